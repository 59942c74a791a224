package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/spec"
)

// pushStreams uploads each layer a push compresses while it is compressed,
// into the repository of the spec's first destination tag (one Streamer per
// repository); the push then counts those blobs as uploaded, and mounts
// them into the spec's other repositories. Meanwhile it opens the upload
// sessions the image's config and documents will take (reserve).
type pushStreams struct {
	// ctx is the command's: every upload's context derives from it, and
	// also ends with its layer's build until the layer is committed (see
	// tee); the commit outlives the build.
	ctx   context.Context
	cfg   registry.TransportConfig
	image string   // --image
	tags  []string // --tag

	// sessions is how many upload sessions are opened ahead for each
	// built image's small blobs while it builds (uploadsPerImage,
	// registry.Streamer.Reserve); docs says the images carry documents.
	sessions int
	docs     bool

	mu        sync.Mutex
	streams   map[string]*registry.Streamer
	reserved  map[*spec.Spec]bool
	docConfig map[string]bool // registries reserved a session for the documents' config
	failed    []error         // streams that failed before their commit (see warnings)
}

// errNoDestination drops the tee of a spec with no tag to push to (the
// push reports that error itself).
var errNoDestination = errors.New("no destination")

// tee is a compose.LayerTee. The upload ends with the layer build's ctx
// until the layer is committed, and from then on only with p.ctx: the
// build ends while the commit goes on.
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
	p.reserve(st, s)
	p.mu.Unlock()
	sctx, cancel := context.WithCancel(p.ctx)
	return &lazyTee{p: p, ctx: sctx, cancel: cancel, detach: context.AfterFunc(ctx, cancel), st: st}, nil
}

// reserve opens, the first time s's layers are built, the upload sessions
// its image's small blobs will take in st's repository. Call it with p.mu
// held.
func (p *pushStreams) reserve(st *registry.Streamer, s *spec.Spec) {
	if p.reserved[s] {
		return
	}
	if p.reserved == nil {
		p.reserved, p.docConfig = map[*spec.Spec]bool{}, map[string]bool{}
	}
	p.reserved[s] = true
	n := p.sessions
	// The documents' empty config is one blob per registry: uploaded into
	// one repository, mounted into the others.
	if reg := st.Repository().RegistryStr(); p.docs && !p.docConfig[reg] {
		p.docConfig[reg] = true
		n++
	}
	st.Reserve(p.ctx, n)
}

// uploadsPerImage is how many small blobs a built image's push uploads
// in its repository before the image's manifest and referrers: its config
// and its documents. The documents' shared empty config is counted once
// per registry (see tee). (The registry cache's records go up beside
// the referrers, off that chain, and take no session.)
func uploadsPerImage(pf *pushFlags) int {
	return 1 + len(pf.supply.docTypes())
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
	p *pushStreams
	// ctx is the upload's; cancel ends it, and detach stops the build's
	// ctx from ending it (false once that has happened).
	ctx    context.Context
	cancel context.CancelFunc
	detach func() bool
	st     *registry.Streamer
	buf    []byte
	bs     *registry.BlobStream
}

func (t *lazyTee) Write(p []byte) (int, error) {
	if t.bs == nil {
		if len(t.buf)+len(p) < streamMin {
			t.buf = append(t.buf, p...)
			return len(p), nil
		}
		bs, err := t.st.Begin(t.ctx)
		if err != nil {
			return 0, t.fail(err)
		}
		t.bs = bs
		if len(t.buf) > 0 {
			if _, err := bs.Write(t.buf); err != nil {
				return 0, t.fail(t.streaming(err))
			}
			t.buf = nil
		}
	}
	n, err := t.bs.Write(p)
	if err != nil {
		return n, t.fail(t.streaming(err))
	}
	return n, nil
}

// streaming says where a write of the stream failed.
func (t *lazyTee) streaming(err error) error {
	return fmt.Errorf("%s: uploading a layer while it was compressed: %w", t.st.Repository().Name(), err)
}

// fail notes err for warnings, unless the upload was cancelled (its
// build failed, or the command ends).
func (t *lazyTee) fail(err error) error {
	if t.ctx.Err() == nil {
		t.p.mu.Lock()
		t.p.failed = append(t.p.failed, err)
		t.p.mu.Unlock()
	}
	return err
}

// Commit finishes a started upload in the background (the build goes on
// while the registry takes the stream's end and checks the digest; the
// push waits for it where it needs the blob); a layer too small to stream
// is left to the push.
func (t *lazyTee) Commit(_ context.Context, h v1.Hash, size int64) error {
	if !t.detach() {
		t.Abort() // the build was cancelled
		return nil
	}
	if t.bs == nil {
		t.cancel()
		return nil
	}
	// t.cancel is left to the command's end (p.ctx), which also ends the
	// commit if it is still running then.
	t.bs.CommitLater(t.ctx, h, size)
	return nil
}

// Abort drops the upload, if one started.
func (t *lazyTee) Abort() {
	t.detach()
	t.cancel()
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

// warnings lists the uploads that failed, during the build or at their
// commit: the push uploaded those layers again, the ordinary way.
func (p *pushStreams) warnings() []error {
	p.mu.Lock()
	out := slices.Clone(p.failed)
	p.mu.Unlock()
	for _, st := range p.all() {
		out = append(out, st.Failures()...)
	}
	return out
}

// wait waits for every upload still being committed, then deletes the
// upload sessions opened ahead that no push took (after a failure), for
// at most releaseTimeout, even once ctx has ended.
func (p *pushStreams) wait(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	for _, st := range p.all() {
		st.Wait()
		st.Release(rctx)
	}
}

// releaseTimeout bounds wait's deleting of unused upload sessions: a
// courtesy to the registry, which cleans them up too.
const releaseTimeout = 10 * time.Second
