package runtime

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// countJob adds 1 to hits[i] for every item i of its chunks and, if inner
// is set, runs a nested parallel loop in each chunk.
type countJob struct {
	hits  []atomic.Int32
	inner *[]atomic.Int32
	seen  *[8]atomic.Int32 // chunk numbers seen
}

func (j countJob) chunk(t, lo, hi int) {
	j.seen[t].Add(1)
	for i := lo; i < hi; i++ {
		j.hits[i].Add(1)
	}
	if j.inner != nil {
		var seen [8]atomic.Int32
		parallelChunks(3, len(*j.inner), countJob{hits: *j.inner, seen: &seen})
	}
}

// TestParallelChunks runs loops, nested loops and concurrent callers on
// the worker pool, at GOMAXPROCS 1 and 2: every item runs exactly once,
// every chunk number once per loop, and nothing deadlocks.
func TestParallelChunks(t *testing.T) {
	for _, procs := range []int{1, 2} {
		old := runtime.GOMAXPROCS(procs)
		var wg sync.WaitGroup
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < 50; r++ {
					hits := make([]atomic.Int32, 37)
					inner := make([]atomic.Int32, 11)
					var seen [8]atomic.Int32
					parallelChunks(5, len(hits), countJob{hits: hits, inner: &inner, seen: &seen})
					for i := range hits {
						if n := hits[i].Load(); n != 1 {
							t.Errorf("procs %d: item %d ran %d times", procs, i, n)
						}
					}
					for i := range inner {
						if n := inner[i].Load(); n != 5 {
							t.Errorf("procs %d: nested item %d ran %d times, want once per outer chunk", procs, i, n)
						}
					}
					for i := range seen {
						if n, want := seen[i].Load(), int32(min(1, max(0, 5-i))); n != want {
							t.Errorf("procs %d: chunk %d ran %d times", procs, i, n)
						}
					}
				}
			}()
		}
		wg.Wait()
		runtime.GOMAXPROCS(old)
	}
}

// TestParallelChunksOn runs more chunks than goroutines: every item and
// every chunk still runs exactly once.
func TestParallelChunksOn(t *testing.T) {
	for _, g := range []int{0, 1, 2, 3, 8} {
		hits := make([]atomic.Int32, 41)
		var seen [8]atomic.Int32
		parallelChunksOn(g, 7, len(hits), countJob{hits: hits, seen: &seen})
		for i := range hits {
			if n := hits[i].Load(); n != 1 {
				t.Errorf("g %d: item %d ran %d times", g, i, n)
			}
		}
		for i := range seen {
			if n, want := seen[i].Load(), int32(min(1, max(0, 7-i))); n != want {
				t.Errorf("g %d: chunk %d ran %d times", g, i, n)
			}
		}
	}
}

type panicJob struct{ at int }

func (j panicJob) chunk(t, lo, hi int) {
	if t == j.at {
		panic("chunk panicked")
	}
}

// TestParallelChunksPanic re-raises a chunk's panic on the caller, from
// the caller's own chunk and from a worker's.
func TestParallelChunksPanic(t *testing.T) {
	for _, at := range []int{0, 1, 3} {
		func() {
			defer func() {
				if r := recover(); r != "chunk panicked" {
					t.Errorf("chunk %d: recovered %v", at, r)
				}
			}()
			parallelChunks(4, 100, panicJob{at: at})
		}()
	}
	// The pool still works afterwards.
	hits := make([]atomic.Int32, 10)
	var seen [8]atomic.Int32
	parallelChunks(2, 10, countJob{hits: hits, seen: &seen})
	for i := range hits {
		if hits[i].Load() != 1 {
			t.Fatalf("after a panic: item %d ran %d times", i, hits[i].Load())
		}
	}
}
