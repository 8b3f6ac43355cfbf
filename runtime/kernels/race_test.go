//go:build race

package kernels

// raceEnabled reports a -race build, whose instrumentation allocates, so
// allocation counts mean nothing there.
const raceEnabled = true
