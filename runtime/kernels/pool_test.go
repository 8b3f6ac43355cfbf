package kernels

import (
	goruntime "runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// countTask counts its runs and, if sub > 0, runs a nested product of sub
// tasks as a worker share may (Sgemm inside a runtime loop).
type countTask struct {
	g    *TaskGroup
	runs *atomic.Int64
	sub  int
	wait time.Duration
}

func (c *countTask) RunTask() {
	if c.wait > 0 {
		time.Sleep(c.wait)
	}
	if c.sub > 0 {
		var g TaskGroup
		var runs atomic.Int64
		tasks := make([]countTask, c.sub)
		g.Add(c.sub)
		for i := range tasks {
			tasks[i] = countTask{g: &g, runs: &runs}
			if !Submit(&tasks[i]) {
				tasks[i].RunTask()
			}
		}
		RunQueued()
		g.Wait()
		if runs.Load() != int64(c.sub) {
			panic("nested product: a task ran a wrong number of times")
		}
	}
	c.runs.Add(1)
	c.g.Done()
}

// TestPoolRunsEveryTask hands products of many tasks, some nested, some
// slow, to the pool at GOMAXPROCS 1 and 2, with and without polling, and
// checks that every task ran once before Wait returned and that nothing
// deadlocks.
func TestPoolRunsEveryTask(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(0))
	defer SetWorkerSpin(SetWorkerSpin(DefaultWorkerSpin))
	for _, procs := range []int{1, 2} {
		for _, spin := range []time.Duration{0, DefaultWorkerSpin} {
			goruntime.GOMAXPROCS(procs)
			SetWorkerSpin(spin)
			StartWorkers(procs)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for round := 0; round < 50; round++ {
					var g TaskGroup
					var runs atomic.Int64
					n := 1 + round%7
					tasks := make([]countTask, n)
					g.Add(n)
					for i := range tasks {
						tasks[i] = countTask{g: &g, runs: &runs, sub: i % 3}
						if round%10 == 0 {
							tasks[i].wait = 200 * time.Microsecond
						}
						if !Submit(&tasks[i]) {
							tasks[i].RunTask()
						}
					}
					RunQueued()
					g.Wait()
					if got := runs.Load(); got != int64(n) {
						t.Errorf("GOMAXPROCS %d spin %v round %d: %d of %d tasks done when Wait returned", procs, spin, round, got, n)
						return
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("GOMAXPROCS %d spin %v: products did not finish (deadlock?)", procs, spin)
			}
		}
	}
}

func TestSetWorkerSpin(t *testing.T) {
	old := SetWorkerSpin(-time.Second)
	defer SetWorkerSpin(old)
	if got := SetWorkerSpin(time.Millisecond); got != 0 {
		t.Errorf("a negative spin was kept as %v, want 0", got)
	}
	if got := WorkerSpin(); got != time.Millisecond {
		t.Errorf("WorkerSpin = %v after SetWorkerSpin(1ms)", got)
	}
	if got := SetWorkerSpin(old); got != time.Millisecond {
		t.Errorf("SetWorkerSpin returned %v, want 1ms", got)
	}
}

// startTask records when a worker started it.
type startTask struct {
	g     *TaskGroup
	t0    time.Time
	start time.Duration
}

func (s *startTask) RunTask() {
	s.start = time.Since(s.t0)
	s.g.Done()
}

// BenchmarkPoolStart reports the median time from Submit to the start of
// the task ("start-µs") while the caller works for 200 µs before it runs
// whatever is still queued, with idle workers polling (the default) and
// blocking (spin 0): the measure behind the pool's polling (pool.go).
//
//	go test -run '^$' -bench PoolStart -cpu 2 ./runtime/kernels
func BenchmarkPoolStart(b *testing.B) {
	defer SetWorkerSpin(SetWorkerSpin(DefaultWorkerSpin))
	for _, spin := range []time.Duration{DefaultWorkerSpin, 0} {
		name := "polling"
		if spin == 0 {
			name = "blocking"
		}
		b.Run(name, func(b *testing.B) {
			SetWorkerSpin(spin)
			StartWorkers(1)
			var g TaskGroup
			tk := startTask{g: &g}
			starts := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				g.Add(1)
				tk.t0 = time.Now()
				if !Submit(&tk) {
					b.Fatal("queue full")
				}
				for time.Since(tk.t0) < 200*time.Microsecond {
				}
				RunQueued()
				g.Wait()
				starts = append(starts, tk.start)
			}
			sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
			b.ReportMetric(float64(starts[len(starts)/2])/1e3, "start-µs")
		})
	}
}
