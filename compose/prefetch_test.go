package compose

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// TestPrefetchBases: a base resolved ahead (PrefetchBases) while nothing
// else runs is not asked for again by the build that shares its Tags: one
// request for the tag (a GET, the cache being empty) and one GET of the
// config for the whole command, and the same image as a build without the
// prefetch.
// Bases that are not in a registry, and specs that do not validate, are
// left alone.
func TestPrefetchBases(t *testing.T) {
	reg := fixture.NewRegistry(t)
	reg.Push(t, "lib/nginx:1", nginxBase(t, nil))
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"a.txt": "a\n"})
	s := &spec.Spec{Base: reg.Host + "/lib/nginx:1", Context: ctxDir, Layers: []spec.Layer{{Files: []spec.File{add("/srv/a.txt")}}}}
	specs := []*spec.Spec{s, s, {Base: "scratch", Context: ctxDir}, {Base: "", Context: ctxDir}}

	plain, err := Build(context.Background(), s, t.TempDir(), WithRemote(remote.WithTransport(reg.Transport)))
	if err != nil {
		t.Fatal(err)
	}
	reg.Transport.Reset()
	cache := t.TempDir()
	opts := []Option{WithRemote(remote.WithTransport(reg.Transport)), WithBaseTags(&base.Tags{})}
	PrefetchBases(context.Background(), specs, cache, opts...)()
	prefetched := reg.Transport.Requests()
	res, err := Build(context.Background(), s, cache, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != plain.Digest {
		t.Errorf("digest after a prefetch %s, want %s", res.Digest, plain.Digest)
	}
	log := reg.Transport.Requests()
	count := func(log, prefix string) int {
		n := 0
		for _, l := range strings.Split(log, "\n") {
			if strings.HasPrefix(l, prefix) {
				n++
			}
		}
		return n
	}
	if n := strings.Count(log, "/manifests/"); n != 1 {
		t.Errorf("%d manifest requests, want 1 (the tag, once):\n%s", n, log)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "/manifests/sha256:") || strings.Contains(l, "/blobs/") {
			if seen[l] {
				t.Errorf("asked twice: %s\n%s", l, log)
			}
			seen[l] = true
		}
	}
	if !strings.Contains(prefetched, "/manifests/") || count(prefetched, "GET /v2/lib/nginx/blobs/") != 1 {
		t.Errorf("the prefetch did not fetch the manifest and config:\n%s", prefetched)
	}

	// A build while the prefetch runs waits for its fetches rather than
	// making them again: the prefetch's config GET is held until the build
	// has had all the time it needs to ask for the config itself.
	reg.Transport.Reset()
	hold := &holdConfig{next: reg.Transport, release: make(chan struct{})}
	cache, opts = t.TempDir(), []Option{WithRemote(remote.WithTransport(hold)), WithBaseTags(&base.Tags{})}
	wait := PrefetchBases(context.Background(), specs, cache, opts...)
	built := make(chan error, 1)
	go func() {
		_, err := Build(context.Background(), s, cache, opts...)
		built <- err
	}()
	time.Sleep(200 * time.Millisecond)
	close(hold.release)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	wait()
	if n := hold.configs.Load(); n != 1 {
		t.Errorf("the config was asked for %d times, want once:\n%s", n, reg.Transport.Requests())
	}
}

// holdConfig holds every blob GET made before release is closed (before
// it, only the base's config is asked for; its layers are read by the
// build's base check, after the config), counting them.
type holdConfig struct {
	next    http.RoundTripper
	release chan struct{}
	configs atomic.Int32
}

func (h *holdConfig) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && !h.released() {
		h.configs.Add(1)
		<-h.release
	}
	return h.next.RoundTrip(r)
}

// released reports whether release is closed.
func (h *holdConfig) released() bool {
	select {
	case <-h.release:
		return true
	default:
		return false
	}
}
