package base

import (
	"context"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Tags remembers, for one command, the manifest digest each base tag
// resolved to. Specs on the same base then ask the registry once (20
// services on one base sent 20 HEADs, each after a ping of its own), and
// all of them build on the same base even if the tag moves meanwhile. A
// failed resolution is not remembered: the next spec asks again. Tags
// also serialises the fetches of one manifest or blob across the command's
// resolutions (compose.PrefetchBases resolves while a build may too): the
// second finds the first's bytes in the cache. The zero value is ready to
// use; a nil *Tags remembers nothing.
type Tags struct {
	mu       sync.Mutex
	m        map[string]*tagEntry
	inflight map[v1.Hash]*sync.Mutex
}

// lock serialises work on digest h and returns the unlock function.
func (t *Tags) lock(h v1.Hash) func() {
	t.mu.Lock()
	m, ok := t.inflight[h]
	if !ok {
		if t.inflight == nil {
			t.inflight = map[v1.Hash]*sync.Mutex{}
		}
		m = &sync.Mutex{}
		t.inflight[h] = m
	}
	t.mu.Unlock()
	m.Lock()
	return m.Unlock
}

type tagEntry struct {
	done chan struct{}
	h    v1.Hash
	err  error
}

// resolve returns what ref resolved to earlier in the command, waiting for
// a resolution in progress, or else calls f.
func (t *Tags) resolve(ctx context.Context, ref string, f func() (v1.Hash, error)) (v1.Hash, error) {
	if t == nil {
		return f()
	}
	t.mu.Lock()
	if e, ok := t.m[ref]; ok {
		t.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return v1.Hash{}, ctx.Err()
		}
		if e.err == nil {
			return e.h, nil
		}
		return f() // that attempt failed: try again
	}
	if t.m == nil {
		t.m = map[string]*tagEntry{}
	}
	e := &tagEntry{done: make(chan struct{})}
	t.m[ref] = e
	t.mu.Unlock()
	e.h, e.err = f()
	if e.err != nil {
		t.mu.Lock()
		delete(t.m, ref)
		t.mu.Unlock()
	}
	close(e.done)
	return e.h, e.err
}
