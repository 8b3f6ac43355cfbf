package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool shared by every parallel product of this package and by
// the runtime's parallel loops: long-lived goroutines, so that handing off
// work allocates nothing (a go statement allocates its closure).
//
// An idle worker polls the queue for a while before it blocks on it
// (SetWorkerSpin). A worker that has blocked takes long to start again:
// on the 2-vCPU virtual machines Poda is measured on, a task started about
// 130 µs after it was queued (BenchmarkPoolStart), as long as a whole
// LeNet-300 2:4 layer at batch 64 takes on one core, so splitting such
// products gained nothing until workers polled. OpenMP runtimes poll the
// same way (KMP_BLOCKTIME, GOMP_SPINCOUNT). A polling worker yields its
// processor every few polls (runtime.Gosched), so a goroutine woken onto
// it does not wait for the polling to end, and at most GOMAXPROCS-1
// workers poll at once, so polling never takes the caller's processor.

// Waiting for the workers polls as well (TaskGroup): a caller that blocks
// in sync.WaitGroup.Wait is woken by the last worker's Done onto that
// worker's own processor, behind the worker, which then polls the queue;
// the caller waited there until another thread woke up to take it, 20 µs
// and more per product.

// Task is one share of a parallel product, as a pool worker runs it.
type Task interface{ RunTask() }

var (
	poolMu      sync.Mutex
	poolWorkers int
	poolCh      = make(chan Task, 256)
	poolSpin    atomic.Int64 // nanoseconds an idle worker polls
	poolPolling atomic.Int32 // workers polling now
)

// DefaultWorkerSpin is how long an idle worker polls for new work before
// it blocks, unless SetWorkerSpin changes it.
const DefaultWorkerSpin = 500 * time.Microsecond

func init() { poolSpin.Store(int64(DefaultWorkerSpin)) }

// SetWorkerSpin sets how long an idle worker keeps polling for new work
// before it blocks, and returns the previous setting. Polling burns the
// core it runs on for up to d after each parallel product (and so after
// each Session.Run); 0 turns it off, for devices where idle cores must
// sleep, at the price of a slow start of every split product.
func SetWorkerSpin(d time.Duration) time.Duration {
	return time.Duration(poolSpin.Swap(int64(max(d, 0))))
}

// WorkerSpin returns how long an idle worker polls before it blocks.
func WorkerSpin() time.Duration { return time.Duration(poolSpin.Load()) }

// StartWorkers makes sure at least n pool workers run.
func StartWorkers(n int) {
	poolMu.Lock()
	for poolWorkers < n {
		poolWorkers++
		go poolWorker()
	}
	poolMu.Unlock()
}

// Submit queues t for a pool worker. It returns false, and queues
// nothing, when the queue is full; the caller must then run t itself.
func Submit(t Task) bool {
	select {
	case poolCh <- t:
		return true
	default:
		return false
	}
}

// RunQueued runs the tasks waiting in the queue, whoever queued them, on
// the calling goroutine until the queue is empty. A caller about to wait
// for the tasks it submitted calls it first: once the queue is empty, each
// of its tasks is running or done, so a product nested in a task cannot
// wait for a worker that waits for it.
func RunQueued() {
	for {
		select {
		case t := <-poolCh:
			t.RunTask()
		default:
			return
		}
	}
}

func poolWorker() {
	for {
		nextTask().RunTask()
	}
}

// nextTask returns the next queued task, polling for up to the spin time
// (when fewer than GOMAXPROCS-1 workers poll) before it blocks.
func nextTask() Task {
	var t Task
	take := func() bool {
		select {
		case t = <-poolCh:
			return true
		default:
			return false
		}
	}
	if take() {
		return t
	}
	if poolPolling.Add(1) < int32(runtime.GOMAXPROCS(0)) && poll(take) {
		poolPolling.Add(-1)
		return t
	}
	poolPolling.Add(-1)
	return <-poolCh
}

// poll calls done until it reports true, for up to the spin time; every
// 64 calls it yields the processor, so that what waits for it runs. It
// reports whether done did.
func poll(done func() bool) bool {
	if done() {
		return true
	}
	spin := poolSpin.Load()
	if spin <= 0 {
		return false
	}
	deadline := time.Now().Add(time.Duration(spin))
	for i := 1; !done(); i++ {
		if i%64 == 0 {
			if time.Now().After(deadline) {
				return false
			}
			runtime.Gosched()
		}
	}
	return true
}

// TaskGroup waits for a product's tasks, as sync.WaitGroup does, but Wait
// polls for up to the spin time before it blocks, so that a caller whose
// share ends first is not parked (see above).
type TaskGroup struct {
	n  atomic.Int64
	wg sync.WaitGroup
}

// Add adds delta, which may be negative, to the tasks pending.
func (g *TaskGroup) Add(delta int) {
	g.wg.Add(delta)
	g.n.Add(int64(delta))
}

// Done marks a task finished. The WaitGroup's Done comes last: once Wait
// has returned, no task touches g.
func (g *TaskGroup) Done() {
	g.n.Add(-1)
	g.wg.Done()
}

// Wait returns once every task added is done.
func (g *TaskGroup) Wait() {
	// A task handed to a blocked worker may wait to run on this very
	// processor: poll yields it.
	poll(func() bool { return g.n.Load() <= 0 })
	g.wg.Wait()
}
