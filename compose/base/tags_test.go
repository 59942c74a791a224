package base

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/fixture"
)

// Specs of one command on the same base tag resolve it once: one request
// for the tag (and one ping) for eight concurrent resolutions, all on the
// same digest, even after the tag moved.
func TestTagsResolveOncePerCommand(t *testing.T) {
	r := fixture.NewRegistry(t)
	d := r.Push(t, "shared:v1", fixture.Image(t, fixture.Platform(t, "linux/amd64"), 2, false))
	o := viaRegistry(t, r, "", nil)
	o.Tags = &Tags{}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			rb, err := resolveBase(context.Background(), r.Host+"/shared:v1", nil, o)
			if err == nil && rb.Platforms[0].Digest != d {
				err = errors.New("resolved to " + rb.Platforms[0].Digest.String())
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(r.Transport.Requests(), "/v2/shared/manifests/v1"); n != 1 {
		t.Errorf("%d requests for the tag, want 1:\n%s", n, r.Transport.Requests())
	}
	// The tag moves: this command keeps building on what it resolved.
	r.Push(t, "shared:v1", fixture.Image(t, fixture.Platform(t, "linux/amd64"), 3, false))
	rb, err := resolveBase(context.Background(), r.Host+"/shared:v1", nil, o)
	if err != nil || rb.Platforms[0].Digest != d {
		t.Errorf("after the tag moved: %v, %v; want %s as before", rb, err, d)
	}
	// Another command (another Tags) sees the move.
	o.Tags = &Tags{}
	if rb, err := resolveBase(context.Background(), r.Host+"/shared:v1", nil, o); err != nil || rb.Platforms[0].Digest == d {
		t.Errorf("a new command still resolved %s (%v)", d, err)
	}
}

// A failed resolution is not remembered; concurrent waiters see it and
// the next caller asks again.
func TestTagsForgetFailures(t *testing.T) {
	var tags Tags
	var calls atomic.Int32
	boom := errors.New("registry unreachable")
	if _, err := tags.resolve(context.Background(), "r/a:1", func() (v1.Hash, error) { calls.Add(1); return v1.Hash{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("error = %v", err)
	}
	want := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	h, err := tags.resolve(context.Background(), "r/a:1", func() (v1.Hash, error) { calls.Add(1); return want, nil })
	if err != nil || h != want || calls.Load() != 2 {
		t.Errorf("second resolution: %v, %v after %d calls; want %s after 2", h, err, calls.Load(), want)
	}
	if h, _ := tags.resolve(context.Background(), "r/a:1", func() (v1.Hash, error) { calls.Add(1); return v1.Hash{}, boom }); h != want || calls.Load() != 2 {
		t.Errorf("third resolution called the registry (%d calls) or changed (%s)", calls.Load(), h)
	}
	// A waiter whose context ends stops waiting.
	block := make(chan struct{})
	started := make(chan struct{})
	go tags.resolve(context.Background(), "r/b:1", func() (v1.Hash, error) { close(started); <-block; return want, nil }) //nolint:errcheck // the waiter below is the test
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tags.resolve(ctx, "r/b:1", func() (v1.Hash, error) { return want, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	close(block)
}

// A tag resolves in one round trip either way: with nothing cached (a
// fresh runner) one GET brings the digest and the manifest; once the
// manifest it last resolved to is cached, one HEAD confirms it, and the
// manifest is read from the cache.
func TestResolveTagOneRoundTrip(t *testing.T) {
	r := fixture.NewRegistry(t)
	d := r.Push(t, "app:v1", fixture.Image(t, fixture.Platform(t, "linux/amd64"), 4, false))
	cache := t.TempDir()
	for _, want := range []string{"GET /v2/app/manifests/v1", "HEAD /v2/app/manifests/v1"} {
		r.Transport.Reset()
		o := viaRegistry(t, r, cache, nil)
		rb, err := resolveBase(context.Background(), r.Host+"/app:v1", nil, o)
		if err != nil || rb.Platforms[0].Digest != d {
			t.Fatalf("resolved %v, %v; want %s", rb, err, d)
		}
		log := r.Transport.Requests()
		if n := strings.Count(log, "/manifests/"); n != 1 || !strings.Contains(log, want) {
			t.Errorf("requests for the manifest: want one, %s:\n%s", want, log)
		}
	}
}
