//go:build race

package runtime

// raceEnabled is set under -race, whose instrumentation allocates.
const raceEnabled = true
