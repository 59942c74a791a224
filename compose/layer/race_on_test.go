//go:build race

package layer

// raceEnabled reports a -race build: the race detector's shadow memory adds
// tens of MiB to a process's RSS, so memory limits in tests allow for it.
const raceEnabled = true
