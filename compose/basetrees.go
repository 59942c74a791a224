package compose

import (
	"context"
	"fmt"
	"os"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/compose/basetree"
	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/spec"
)

// baseTrees indexes the base layers of every platform in the background,
// while the spec's layers build; check waits for it and checks the built
// layers against the base (package basetree).
type baseTrees struct {
	done  chan struct{}
	trees *basetree.Trees // nil: nothing to check
	err   error
}

// startBaseTrees starts indexing the base layers of rb. Indexes are cached
// under cacheDir by diffID; a dry run stores them only when the cache
// directory already exists.
func startBaseTrees(ctx context.Context, s *spec.Spec, rb *base.Resolved, cacheDir string, dryRun bool, o *options) *baseTrees {
	bt := &baseTrees{done: make(chan struct{})}
	if len(s.Layers) == 0 {
		close(bt.done)
		return bt
	}
	save := !dryRun
	if !save {
		if _, err := os.Stat(cacheDir); err == nil {
			save = true
		}
	}
	opts := basetree.Options{
		Budget:    o.budget,
		Save:      save,
		OnlyLocal: o.baseCheck == BaseCheckWhenRemoving && !specRemoves(s),
		Logger:    o.logger.With("base", rb.Name),
		Flight:    o.flight,
	}
	if o.observer != nil && !dryRun {
		opts.Visit = o.observer.BaseLayer
	}
	go func() {
		defer close(bt.done)
		bases := make([][]v1.Layer, len(rb.Platforms))
		var diffIDs []v1.Hash
		for i, pb := range rb.Platforms {
			ls, err := pb.Image.Layers()
			if err != nil {
				bt.err = fmt.Errorf("base layers of %s: %w", pb.Platform, err)
				return
			}
			bases[i] = ls
			for _, l := range ls {
				if d, err := l.DiffID(); err == nil && !slices.Contains(diffIDs, d) {
					diffIDs = append(diffIDs, d)
				}
			}
		}
		if o.baseFiles != nil && !dryRun && rb.Repo != nil && len(diffIDs) > 0 {
			opts.Preloaded = o.baseFiles(ctx, s, diffIDs)
		}
		bt.trees, bt.err = basetree.Index(ctx, bases, cacheDir, opts)
	}()
	return bt
}

// specRemoves reports whether any layer of s deletes or clears a path.
func specRemoves(s *spec.Spec) bool {
	for _, l := range s.Layers {
		if len(l.Delete) > 0 || len(l.Clear) > 0 {
			return true
		}
	}
	return false
}

// wait returns once the indexing is over.
func (bt *baseTrees) wait() { <-bt.done }

// check waits for the base indexes and checks the built layers
// ([platform][spec layer]) against them.
func (bt *baseTrees) check(s *spec.Spec, plats []spec.Platform, layers [][]*layer.Built) error {
	bt.wait()
	if bt.err != nil {
		return fmt.Errorf("base %s: %w", s.Base, bt.err)
	}
	return basetree.Check(s, plats, bt.trees, layers)
}
