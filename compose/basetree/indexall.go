package basetree

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// Trees holds the header index of every base layer of every platform.
type Trees struct {
	recs [][][]treeRec // [platform][base layer]
}

// Options are the optional settings of Index.
type Options struct {
	// Budget bounds how many base layers are indexed at once: each takes
	// one unit while it is read (the caller's concurrency budget). nil means
	// one at a time.
	Budget *semaphore.Weighted
	// Save stores the indexes read under the cache directory.
	Save bool
	// OnlyLocal makes Index return nil (no check) rather than download a
	// registry layer whose index is not cached; with Visit, the layers are
	// still read for the visitor (and their indexes cached), and Index
	// still returns nil.
	OnlyLocal bool
	// Logger receives a debug record when the check is skipped; nil
	// discards it.
	Logger *slog.Logger
	// Flight, when set, is shared by the Index calls of several specs so
	// that each base layer is read once; nil reads per call.
	Flight *Flight
	// Visit, when set, is asked for each base layer Index reads (by
	// diffID) whether another reader needs its content too; a non-nil
	// LayerVisitor is shown the layer's entries and content as its headers
	// are read, and the layer is read for it even when its header index is
	// cached. With Flight, a layer is visited by the one call that reads it.
	Visit func(diffID v1.Hash) LayerVisitor
	// Preloaded, when set, gives the index file (as IndexFile holds it) of
	// a layer known from elsewhere (a registry cache), or nil: a layer
	// whose index is not cached is then not read; such an index is used
	// for this call and never stored.
	Preloaded func(diffID v1.Hash) []byte
}

// localLayer is implemented by registry base layers, which report whether
// their blob is cached, so reading it needs no network.
type localLayer interface {
	Local() bool
}

// needsDownload reports whether reading l's headers would fetch it from a
// registry: its index is not cached and its blob is not either.
func needsDownload(l v1.Layer, diffID v1.Hash, cacheDir string, preloaded func(v1.Hash) []byte) bool {
	if _, err := os.Stat(treeIndexPath(cacheDir, diffID)); err == nil {
		return false
	}
	if preloaded != nil && preloaded(diffID) != nil {
		return false
	}
	ll, ok := l.(localLayer)
	return ok && !ll.Local()
}

// Index reads the header index of every distinct base layer, given per
// platform in layer order, within o.Budget. Indexes are cached
// under cacheDir by diffID (read from there when present, stored there
// with o.Save). With o.OnlyLocal it returns nil (check nothing) as soon as
// a layer would have to be downloaded.
func Index(ctx context.Context, bases [][]v1.Layer, cacheDir string, o Options) (*Trees, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	type job struct {
		layer v1.Layer
		recs  []treeRec
	}
	jobs := map[v1.Hash]*job{}
	var order []v1.Hash
	perPlat := make([][]v1.Hash, len(bases))
	for pi, ls := range bases {
		for _, l := range ls {
			d, err := l.DiffID()
			if err != nil {
				return nil, fmt.Errorf("base layer diffID: %w", err)
			}
			perPlat[pi] = append(perPlat[pi], d)
			if jobs[d] == nil {
				jobs[d] = &job{layer: l}
				order = append(order, d)
			}
		}
	}
	skip := false
	if o.OnlyLocal {
		for _, d := range order {
			if needsDownload(jobs[d].layer, d, cacheDir, o.Preloaded) {
				o.Logger.Debug("base checks skipped: the base's layers are not cached and no layer deletes or clears")
				skip = true
				break
			}
		}
		// A visitor (the SBOM) reads the base anyway: it is streamed here,
		// while the layers build, rather than after; the check itself is
		// still skipped.
		if skip && o.Visit == nil {
			return nil, nil
		}
	}
	if o.Budget == nil {
		o.Budget = semaphore.NewWeighted(1)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, d := range order {
		j := jobs[d]
		read := func() ([]treeRec, error) {
			if err := o.Budget.Acquire(gctx, 1); err != nil {
				return nil, err
			}
			defer o.Budget.Release(1)
			return baseLayerIndex(gctx, j.layer, cacheDir, o.Save, skip, o.Visit, o.Preloaded)
		}
		g.Go(func() error {
			var recs []treeRec
			var err error
			if skip {
				// Read only for the visitor: not through the flight, whose
				// result other specs' checks would take. The check is
				// skipped, so a failed read fails nothing here (the visitor
				// is not told it is done, and its owner reads the layer
				// itself).
				_, _ = read()
			} else {
				recs, err = o.Flight.do(gctx, d, read)
			}
			j.recs = recs
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if skip {
		return nil, nil
	}
	t := &Trees{recs: make([][][]treeRec, len(perPlat))}
	for pi, ds := range perPlat {
		for _, d := range ds {
			t.recs[pi] = append(t.recs[pi], jobs[d].recs)
		}
	}
	return t, nil
}
