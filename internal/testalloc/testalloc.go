// Package testalloc counts heap allocations for tests of parallel code.
// testing.AllocsPerRun sets GOMAXPROCS to 1 while it measures, so a
// product that splits across goroutines only above one processor never
// splits there; PerRun leaves GOMAXPROCS alone and counts the allocations
// of every goroutine, the workers' included.
//
// The Go scheduler allocates too: a goroutine that blocks on a channel or
// a WaitGroup may need a new sudog, now and then, when it last blocked on
// another processor. Tests of the worker pool's users therefore measure
// with workers that poll throughout (kernels.SetWorkerSpin with a long
// time), so that what PerRun counts is Poda's own.
package testalloc

import "runtime"

// PerRun returns the average number of heap allocations of f over runs
// calls, after one warm-up call.
func PerRun(runs int, f func()) float64 {
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(runs)
}
