package main

import (
	"os"
	"runtime/debug"
)

// memoryLimit is the soft limit strata's heap is kept under. What the heap
// holds is mostly short-lived (compressor blocks, copy and HTTP buffers);
// without a limit the garbage collector lets it grow to twice the live heap
// before collecting, which put the peak RSS of 20 specs built and pushed in
// one call at 110-190 MiB. With the limit it stays near 60 MiB; the limit
// is soft, so a larger live heap (a huge base index) only makes the
// collector run more often, never fails.
const memoryLimit = 40 << 20

// setMemoryLimit applies memoryLimit unless GOMEMLIMIT, which the Go runtime
// reads itself, is set.
func setMemoryLimit() {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(memoryLimit)
	}
}
