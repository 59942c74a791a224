package main

import (
	"context"
	"errors"
	"sync"

	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/spec"
)

// pushStreams uploads each layer a push compresses while it is compressed,
// into the repository of the spec's first destination tag (one Streamer per
// repository); the push then counts those blobs as uploaded, and mounts
// them into the spec's other repositories.
type pushStreams struct {
	cfg   registry.TransportConfig
	image string   // --image
	tags  []string // --tag

	mu      sync.Mutex
	streams map[string]*registry.Streamer
}

// errNoDestination drops the tee of a spec with no tag to push to (the
// push reports that error itself).
var errNoDestination = errors.New("no destination")

// tee is a compose.LayerTee.
func (p *pushStreams) tee(ctx context.Context, s *spec.Spec) (layer.BlobTee, error) {
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
	return st.Begin(ctx)
}

// uploaded lists every blob the streams committed.
func (p *pushStreams) uploaded() []registry.BlobResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []registry.BlobResult
	for _, st := range p.streams {
		out = append(out, st.Uploaded()...)
	}
	return out
}
