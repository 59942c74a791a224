package compose

import (
	"context"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/spec"
)

// layerBuild is the build of one spec's layers, each taking one unit of the
// budget while it runs. A layer whose inputs do not depend on the platform
// is built once and shared by all platforms, and it starts as soon as
// startLayers is called: it needs nothing of the base, so it builds while
// the base is resolved (a push of one binary spends that time waiting on
// the registry otherwise). The layers that depend on the platform start
// when finish learns the platforms.
type layerBuild struct {
	req layer.Request // what every layer's request shares
	o   *options

	cancel context.CancelFunc
	g      *errgroup.Group
	gctx   context.Context
	once   sync.Once

	// shared[li] is layer li's build when it is shared, set by its
	// goroutine before g.Wait returns.
	shared []*layer.Built
}

// startLayers opens the layer store under cacheDir (a dry run never
// creates it) and starts building s's platform-independent layers.
func startLayers(ctx context.Context, s *spec.Spec, root *os.Root, ignore *layer.Ignore,
	cacheDir string, dryRun bool, o *options) (_ *layerBuild, err error) {
	store := blobstore.At(cacheDir)
	if !dryRun {
		if store, err = blobstore.Open(cacheDir); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	req := layer.Request{Spec: s, Root: root, Ignore: ignore, Created: o.created, Store: store, DryRun: dryRun,
		KeyOnly: o.keyOnly, Budget: o.budget, Logger: o.logger, Sums: o.sums}
	if o.layerTee != nil && !dryRun {
		req.Tee = func(ctx context.Context) (layer.BlobTee, error) { return o.layerTee(ctx, s) }
	}
	if o.observer != nil && !dryRun {
		req.Observe = o.observer.Blob
	}
	if o.known != nil && !dryRun && !o.keyOnly {
		req.Known = o.known(s)
	}
	lb := &layerBuild{req: req, o: o, cancel: cancel, g: g, gctx: gctx, shared: make([]*layer.Built, len(s.Layers))}
	for li := range s.Layers {
		if layer.PlatformDependent(&s.Layers[li]) {
			continue
		}
		g.Go(func() error {
			bl, err := lb.one(li, spec.Platform{})
			lb.shared[li] = bl
			return err
		})
	}
	return lb, nil
}

// finish builds the platform-dependent layers for plats, waits for every
// layer and returns them indexed [platform][layer].
func (lb *layerBuild) finish(plats []spec.Platform) ([][]*layer.Built, error) {
	out := make([][]*layer.Built, len(plats))
	for i := range out {
		out[i] = make([]*layer.Built, len(lb.req.Spec.Layers))
	}
	for li := range lb.req.Spec.Layers {
		if !layer.PlatformDependent(&lb.req.Spec.Layers[li]) {
			continue
		}
		for pi, p := range plats {
			lb.g.Go(func() error {
				bl, err := lb.one(li, p)
				if err != nil && len(plats) > 1 {
					return fmt.Errorf("platform %s: %w", p, err)
				}
				out[pi][li] = bl
				return err
			})
		}
	}
	if err := lb.wait(); err != nil {
		return nil, err
	}
	for li, bl := range lb.shared {
		if bl != nil {
			for k := range out {
				out[k][li] = bl
			}
		}
	}
	return out, nil
}

// abort cancels the builds still running and waits for them (each cleans
// up after itself: nothing half-written stays in the store, and an upload
// on the way is dropped). It is safe to call after finish, and on nil.
func (lb *layerBuild) abort() {
	if lb == nil {
		return
	}
	lb.cancel()
	lb.wait()
}

// wait waits for every build started so far, once.
func (lb *layerBuild) wait() (err error) {
	lb.once.Do(func() {
		err = lb.g.Wait()
		lb.cancel()
	})
	return err
}

// one builds layer li for platform p (the zero platform for a shared
// layer, whose inputs never name it).
func (lb *layerBuild) one(li int, p spec.Platform) (*layer.Built, error) {
	if err := lb.o.budget.Acquire(lb.gctx, 1); err != nil {
		return nil, err
	}
	defer lb.o.budget.Release(1)
	build := layer.Build
	if lb.o.layerFunc != nil {
		build = lb.o.layerFunc
	}
	req := lb.req
	req.Index, req.Platform = li, p
	bl, err := build(lb.gctx, req)
	if err != nil {
		return nil, err
	}
	if bl == nil {
		return nil, fmt.Errorf("layer %d: no result", li)
	}
	lb.o.logger.Debug("layer built", "layer", layerName(req.Spec, li, bl), "platform", p.String(),
		"entries", len(bl.Entries), "layers", len(bl.Emitted()))
	return bl, nil
}

// layerBytes sums Read and Compressed over the distinct layer builds.
func layerBytes(layers [][]*layer.Built) (read, compressed int64) {
	seen := map[*layer.Built]bool{}
	for _, ls := range layers {
		for _, bl := range ls {
			if bl != nil && !seen[bl] {
				seen[bl] = true
				read += bl.Read
				compressed += bl.Compressed
			}
		}
	}
	return read, compressed
}

// layerName is the name a layer shows in history and reports.
func layerName(s *spec.Spec, i int, bl *layer.Built) string {
	if bl != nil && bl.Name != "" {
		return bl.Name
	}
	return layer.Name(s, i)
}
