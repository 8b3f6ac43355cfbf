package train

import (
	"runtime"
	"sync"
)

// chunks is the fixed number of pieces a batch is split into for parallel
// per-sample work. It does not depend on the number of CPUs, so results
// (which sum per-chunk partial gradients in chunk order) are the same on
// every machine.
const chunks = 4

// task is one chunk of an op's batch loop.
type task struct {
	fn    chunkFunc
	chunk int
	wg    *sync.WaitGroup
}

// chunkFunc processes chunk c of chunks.
type chunkFunc interface{ runChunk(c int) }

var (
	poolOnce sync.Once
	tasks    chan task
	workers  int // goroutines serving tasks, fixed at first use
)

func startPool() {
	tasks = make(chan task, chunks)
	workers = min(runtime.GOMAXPROCS(0)-1, chunks-1)
	for i := 0; i < workers; i++ {
		go func() {
			for t := range tasks {
				t.fn.runChunk(t.chunk)
				t.wg.Done()
			}
		}()
	}
}

// parallelChunks runs fn.runChunk(0..chunks-1), spread over the worker
// goroutines and the caller, and waits. It does not allocate.
func parallelChunks(fn chunkFunc, wg *sync.WaitGroup) {
	poolOnce.Do(startPool)
	if workers == 0 || runtime.GOMAXPROCS(0) == 1 {
		for c := 0; c < chunks; c++ {
			fn.runChunk(c)
		}
		return
	}
	wg.Add(chunks - 1)
	for c := 1; c < chunks; c++ {
		tasks <- task{fn, c, wg}
	}
	fn.runChunk(0)
	wg.Wait()
}

// chunkRange is the half-open range of samples of chunk c out of n.
func chunkRange(c, n int) (int, int) { return c * n / chunks, (c + 1) * n / chunks }
