package basetree

import (
	"context"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Flight lets the Index calls of several specs (one BuildAll) read each
// base layer once: a call that needs a layer another call is reading waits
// for that read instead of starting its own. The zero value is not usable;
// use NewFlight.
type Flight struct {
	mu    sync.Mutex
	calls map[v1.Hash]*flightCall
}

type flightCall struct {
	done chan struct{}
	recs []treeRec
	err  error
}

// NewFlight returns an empty Flight.
func NewFlight() *Flight { return &Flight{calls: map[v1.Hash]*flightCall{}} }

// do returns the index of the layer with diffID d, computed by read unless
// another call computes it already. A read that failed is forgotten, and a
// waiter whose own context is alive then reads the layer itself.
func (f *Flight) do(ctx context.Context, d v1.Hash, read func() ([]treeRec, error)) ([]treeRec, error) {
	if f == nil {
		return read()
	}
	f.mu.Lock()
	if c, ok := f.calls[d]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if c.err == nil {
			return c.recs, nil
		}
		return read()
	}
	c := &flightCall{done: make(chan struct{})}
	f.calls[d] = c
	f.mu.Unlock()
	c.recs, c.err = read()
	if c.err != nil {
		f.mu.Lock()
		delete(f.calls, d)
		f.mu.Unlock()
	}
	close(c.done)
	return c.recs, c.err
}
