package main

import (
	"context"
	"errors"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/spec"
)

// pushStreams uploads each layer a push compresses while it is compressed,
// into the repository of the spec's first destination tag (one Streamer per
// repository); the push then counts those blobs as uploaded, and mounts
// them into the spec's other repositories.
type pushStreams struct {
	// ctx bounds every upload, from its start to its commit, which ends
	// after the build (see lazyTee.Commit): the command's, not a build's.
	ctx   context.Context
	cfg   registry.TransportConfig
	image string   // --image
	tags  []string // --tag

	mu      sync.Mutex
	streams map[string]*registry.Streamer
}

// errNoDestination drops the tee of a spec with no tag to push to (the
// push reports that error itself).
var errNoDestination = errors.New("no destination")

// tee is a compose.LayerTee. The upload is bound to p.ctx, not to the
// layer build's ctx, which ends with the build while the commit goes on.
func (p *pushStreams) tee(_ context.Context, s *spec.Spec) (layer.BlobTee, error) {
	image := p.image
	if image == "" {
		image = s.Image
	}
	tags, err := spec.ResolveTags(image, append(append([]string{}, s.Tags...), p.tags...), s.Semver)
	if err != nil || len(tags) == 0 {
		return nil, errNoDestination
	}
	repo := tags[0].Repository
	p.mu.Lock()
	st := p.streams[repo.Name()]
	if st == nil {
		if p.streams == nil {
			p.streams = map[string]*registry.Streamer{}
		}
		st = registry.NewStreamer(repo, p.cfg)
		p.streams[repo.Name()] = st
	}
	p.mu.Unlock()
	return &lazyTee{ctx: p.ctx, st: st}, nil
}

// streamMin is the compressed size a layer must reach to be streamed. A
// smaller layer is left to the push, which checks whether the repository
// has it first: on a fresh runner, a changed service's unchanged small
// layers are then not sent again (the stream cannot know a digest before
// its end), and streaming would gain nothing on so few bytes anyway.
const streamMin = 1 << 20

// lazyTee holds a layer's first streamMin compressed bytes and starts its
// upload only when the layer is larger.
type lazyTee struct {
	ctx context.Context
	st  *registry.Streamer
	buf []byte
	bs  *registry.BlobStream
}

func (t *lazyTee) Write(p []byte) (int, error) {
	if t.bs == nil {
		if len(t.buf)+len(p) < streamMin {
			t.buf = append(t.buf, p...)
			return len(p), nil
		}
		bs, err := t.st.Begin(t.ctx)
		if err != nil {
			return 0, err
		}
		t.bs = bs
		if len(t.buf) > 0 {
			if _, err := bs.Write(t.buf); err != nil {
				return 0, err
			}
			t.buf = nil
		}
	}
	return t.bs.Write(p)
}

// Commit finishes a started upload in the background (the build goes on
// while the registry takes the stream's end and checks the digest; the
// push waits for it where it needs the blob); a layer too small to stream
// is left to the push.
func (t *lazyTee) Commit(_ context.Context, h v1.Hash, size int64) error {
	if t.bs != nil {
		t.bs.CommitLater(t.ctx, h, size)
	}
	return nil
}

// Abort drops the upload, if one started.
func (t *lazyTee) Abort() {
	if t.bs != nil {
		t.bs.Abort()
	}
}

// all returns every Streamer, for PushOptions.Streams.
func (p *pushStreams) all() []*registry.Streamer {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*registry.Streamer
	for _, st := range p.streams {
		out = append(out, st)
	}
	return out
}

// wait waits for every upload still being committed.
func (p *pushStreams) wait() {
	for _, st := range p.all() {
		st.Wait()
	}
}
