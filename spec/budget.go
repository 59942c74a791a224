package spec

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"time"
)

// The default budget of one CUE evaluation (see LoadOptions). A spec
// evaluates in milliseconds and a few MiB; these limits only stop runaway
// evaluations (a 1 KB spec can ask CUE for tens of GiB).
const (
	DefaultCUEMemory  int64 = 1 << 30
	DefaultCUETimeout       = time.Minute
)

// ErrBudget is wrapped by the error of a CUE evaluation stopped by its
// memory or time budget.
var ErrBudget = errors.New("spec: CUE evaluation budget exceeded")

// BudgetError is the error of a CUE evaluation stopped by its budget. The
// evaluation itself cannot be interrupted: it goes on in the background
// until it ends, so a program should stop loading specs after one.
type BudgetError struct {
	File string // the spec
	Msg  string
}

func (e *BudgetError) Error() string { return e.File + ":1:1: " + e.Msg }
func (e *BudgetError) Unwrap() error { return ErrBudget }

// heapMetric is the live heap, read without stopping the world.
const heapMetric = "/memory/classes/heap/objects:bytes"

// heapBytes returns the bytes of live and not yet swept heap objects.
func heapBytes() int64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// runBudgeted runs eval in its own goroutine and returns its result, unless
// ctx ends first (a signal), the evaluation runs longer than timeout, or the
// heap grows by more than memLimit bytes meanwhile.
func runBudgeted[T any](ctx context.Context, file string, memLimit int64, timeout time.Duration, eval func() T) (T, error) {
	var zero T
	if memLimit <= 0 {
		memLimit = DefaultCUEMemory
	}
	if timeout <= 0 {
		timeout = DefaultCUETimeout
	}
	done := make(chan T, 1)
	start := heapBytes()
	go func() { done <- eval() }()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r, nil
		case <-ctx.Done():
			return zero, fmt.Errorf("loading spec %s: CUE evaluation stopped: %w", file, ctx.Err())
		case <-deadline.C:
			return zero, &BudgetError{File: file, Msg: fmt.Sprintf("CUE evaluation stopped after %s, its time limit; raise it with --cue-timeout if the spec really needs longer", timeout)}
		case <-tick.C:
			if heapBytes()-start > memLimit {
				return zero, &BudgetError{File: file, Msg: fmt.Sprintf("CUE evaluation stopped after using more than %d MiB of memory, its limit; raise it with --cue-memory if the spec really needs more", memLimit>>20)}
			}
		}
	}
}
