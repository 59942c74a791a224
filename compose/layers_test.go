package compose

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/layer"
)

// A shared layer builds while the base is resolved: the resolver below
// answers only once the shared layer has started (the old order, base
// first, would time out), and the per-platform layer still waits for the
// platforms.
func TestSharedLayersBuildWhileTheBaseResolves(t *testing.T) {
	s := multiPlatformSpec(t)
	idx := testBaseIndex(t, amd64, armv7, arm64)
	started := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var order []string
	build := func(ctx context.Context, req layer.Request) (*layer.Built, error) {
		mu.Lock()
		order = append(order, req.Spec.Layers[req.Index].Name)
		mu.Unlock()
		if req.Index == 0 {
			once.Do(func() { close(started) })
		}
		return layer.Build(ctx, req)
	}
	resolve := func(ctx context.Context, ref string) (v1.Image, v1.ImageIndex, error) {
		select {
		case <-started:
			return nil, idx, nil
		case <-time.After(10 * time.Second):
			return nil, nil, errors.New("no layer started while the base was resolved")
		}
	}
	res, err := Build(context.Background(), s, t.TempDir(), WithJobs(4), WithBaseResolver(resolve), withLayerFunc(build))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, " "); got != "shared bin bin bin" {
		t.Errorf("layers built in the order %q, want the shared one first, then bin per platform", got)
	}
	// Same image as when the base is there first.
	want, err := Build(context.Background(), s, t.TempDir(), WithJobs(1), WithBaseResolver(resolverFor(s.Base, nil, idx)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != want.Digest {
		t.Errorf("digest %s, want %s (built with the base resolved first)", res.Digest, want.Digest)
	}
}

// A base that cannot be resolved stops the layers already building: the
// build reports the base, and no layer outlives it.
func TestBaseFailureStopsEarlyLayers(t *testing.T) {
	s := multiPlatformSpec(t)
	inBuild := make(chan struct{})
	var once sync.Once
	var running atomic.Int32
	build := func(ctx context.Context, req layer.Request) (*layer.Built, error) {
		running.Add(1)
		defer running.Add(-1)
		once.Do(func() { close(inBuild) })
		<-ctx.Done() // a slow layer, until it is cancelled
		return nil, ctx.Err()
	}
	resolve := func(ctx context.Context, ref string) (v1.Image, v1.ImageIndex, error) {
		<-inBuild
		return nil, nil, errors.New("registry.example: manifest unknown")
	}
	done := make(chan error, 1)
	go func() {
		_, err := Build(context.Background(), s, t.TempDir(), WithBaseResolver(resolve), withLayerFunc(build))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "resolving base registry.example/base:1") || !strings.Contains(err.Error(), "manifest unknown") {
			t.Fatalf("error = %v, want the base's", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Build did not return: the early layer was not cancelled")
	}
	if n := running.Load(); n != 0 {
		t.Errorf("%d layer builds still running after Build returned", n)
	}
}
