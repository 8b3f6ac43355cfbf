package runtime

import (
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/podaml/poda/internal/freelist"
	"github.com/podaml/poda/runtime/kernels"
)

// Parallel loops run on the worker pool of runtime/kernels (kernels.Submit),
// the one its products use: long-lived goroutines that poll for work a
// while before they sleep, so that splitting a loop allocates nothing in
// steady state (a go statement allocates its closure and moves the job it
// captures to the heap) and a split starts at once. A loop in flight is a
// *loop[J], recycled through a free list per job type (not a sync.Pool,
// which the collector empties). The caller and the workers that pick the
// loop up take its chunks from one counter, so the caller runs whatever no
// worker took in time. The caller returns once every help request it
// queued has been answered, so the loop is idle when recycled; before it
// waits, it runs queued tasks itself (its own or others',
// kernels.RunQueued), so a loop nested in a chunk on a worker cannot wait
// for a worker that is busy waiting for it.

var freeLoops sync.Map // reflect.Type of the job → *freelist.List[loop[J]]

// loop is one parallel loop: job j over [0, n) in t chunks.
type loop[J chunker] struct {
	j    J
	t, n int
	next atomic.Int64      // the next chunk to take
	wg   kernels.TaskGroup // the chunks and the help requests
	free *freelist.List[loop[J]]

	mu       sync.Mutex
	panicked any // the first panic of a chunk
}

// RunTask runs chunks until none is left to take, as a pool worker.
func (l *loop[J]) RunTask() {
	l.run()
	l.wg.Done()
}

// run runs chunks until none is left to take.
func (l *loop[J]) run() {
	for {
		i := int(l.next.Add(1)) - 1
		if i >= l.t {
			return
		}
		l.runChunk(i)
	}
}

func (l *loop[J]) runChunk(i int) {
	defer func() {
		if r := recover(); r != nil {
			l.mu.Lock()
			if l.panicked == nil {
				l.panicked = r
			}
			l.mu.Unlock()
		}
		l.wg.Done()
	}()
	l.j.chunk(i, l.n*i/l.t, l.n*(i+1)/l.t)
}

// release recycles the idle loop.
func (l *loop[J]) release() {
	var zero J
	l.j, l.panicked = zero, nil
	l.free.Put(l)
}

// newLoop returns an idle or new loop for jobs of type J, from the free
// list of its job type.
func newLoop[J chunker]() *loop[J] {
	key := reflect.TypeFor[J]()
	f, ok := freeLoops.Load(key)
	if !ok {
		f, _ = freeLoops.LoadOrStore(key, new(freelist.List[loop[J]]))
	}
	free := f.(*freelist.List[loop[J]])
	l := free.Get()
	l.free = free
	return l
}

// parallelChunks runs j over [0, n) in exactly t chunks, chunk i over
// [n·i/t, n·(i+1)/t), on the caller's goroutine and up to t-1 workers, so
// that no two chunks run on one goroutine at once and chunk i may use the
// i-th share of a scratch buffer. A panic in a chunk is re-raised on the
// caller's goroutine, where Run recovers it, once every chunk has finished.
func parallelChunks[J chunker](t, n int, j J) { parallelChunksOn(t, t, n, j) }

// parallelChunksOn is parallelChunks on at most g goroutines: each takes
// the next untaken chunk when it finishes one, so with more chunks than
// goroutines one that starts late or loses its core does fewer. Chunk
// numbers then say nothing about goroutines.
func parallelChunksOn[J chunker](g, t, n int, j J) {
	if t <= 1 {
		j.chunk(0, 0, n)
		return
	}
	if g <= 1 {
		for i := 0; i < t; i++ {
			j.chunk(i, n*i/t, n*(i+1)/t)
		}
		return
	}
	g = min(g, t)
	l := newLoop[J]()
	l.j, l.t, l.n = j, t, n
	l.next.Store(0)
	l.wg.Add(t)
	kernels.StartWorkers(g - 1)
	for i := 1; i < g; i++ {
		l.wg.Add(1)
		if !kernels.Submit(l) { // every worker is busy and the queue full
			l.wg.Done()
		}
	}
	l.run()
	kernels.RunQueued()
	l.wg.Wait()
	p := l.panicked
	l.release()
	if p != nil {
		panic(p)
	}
}
