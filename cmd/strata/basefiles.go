package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/basetree"
	"github.com/strata-build/strata/compose/remotecache"
	"github.com/strata-build/strata/compose/sbom"
	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/spec"
)

// Base files through the registry cache. What a push learns by reading its
// base's layers (their header index for the base check, their SBOM
// inventory) is kept in the local cache; a fresh runner has neither and
// would download and gunzip the whole base again. A push therefore keeps
// those files in the registry cache of the image's repository too
// (remotecache.PutBaseFiles, after the push, when the repository did not
// have them), and a push whose local cache lacks them takes them from
// there (remotecache.GetBaseFiles, once the base is resolved, while the
// layers build) instead of reading the base.
type baseFiles struct {
	c        *remoteCache
	specs    []*spec.Spec // the job's, in the order of c's slices
	cacheDir string
	sbom     bool // the push makes SBOMs: their inventories count

	mu       sync.Mutex
	warnings []error
	publish  map[string]*basePublish // by repository and base
}

// basePublish is what a push publishes for one repository and base.
type basePublish struct {
	repo    name.Repository
	base    string
	diffIDs []v1.Hash
}

func newBaseFiles(c *remoteCache, specs []*spec.Spec, cacheDir string, sbom bool) *baseFiles {
	return &baseFiles{c: c, specs: specs, cacheDir: cacheDir, sbom: sbom, publish: map[string]*basePublish{}}
}

// option is the push's compose.WithBaseFiles, nil without a registry cache.
func (b *baseFiles) option() []compose.Option {
	if b == nil || b.c == nil || b.c.listing == nil {
		return nil
	}
	return []compose.Option{compose.WithBaseFiles(b.hook)}
}

// hook fills the local cache with what the registry cache of s's
// repository has for the layers diffIDs of its base, and notes what it
// lacks, to publish after the push.
func (b *baseFiles) hook(ctx context.Context, s *spec.Spec, diffIDs []v1.Hash) {
	repo := b.repoOf(s)
	if repo == nil {
		return
	}
	missing := b.missing(diffIDs)
	if len(missing) == 0 {
		return
	}
	if l, ok := b.c.listing(ctx, *repo); ok && l.Bases[remotecache.BaseKey(s.Base)] {
		files, err := remotecache.GetBaseFiles(ctx, *repo, s.Base, missing, b.c.ropts)
		for _, f := range files {
			if err == nil {
				err = b.store(f)
			}
		}
		if err != nil {
			b.warn(fmt.Errorf("%s: base files of %s: %w; reading the base", repo, s.Base, err))
		}
		if missing = b.missing(diffIDs); len(missing) == 0 {
			return
		}
	}
	b.mu.Lock()
	b.publish[repo.Name()+"\x00"+s.Base] = &basePublish{repo: *repo, base: s.Base, diffIDs: diffIDs}
	b.mu.Unlock()
}

// repoOf is the repository of s's record, for a spec the registry cache
// did not name (one it named is not built).
func (b *baseFiles) repoOf(s *spec.Spec) *name.Repository {
	for i, js := range b.specs {
		if js.Source() != nil && js.Source() == s.Source() && b.c.hits[i] == nil {
			return b.c.repos[i]
		}
	}
	return nil
}

// paths are the local files of layer d, by kind, in a fixed order.
func (b *baseFiles) paths(d v1.Hash) []baseFile {
	out := []baseFile{{remotecache.BaseIndex, basetree.IndexFile(b.cacheDir, d)}}
	if b.sbom {
		out = append(out, baseFile{remotecache.BaseInventory, sbom.InventoryFile(filepath.Join(b.cacheDir, "sbom"), d)})
	}
	return out
}

// baseFile is the kind and local path of one base file.
type baseFile struct{ kind, path string }

// missing lists the layers of diffIDs with a local file missing.
func (b *baseFiles) missing(diffIDs []v1.Hash) []v1.Hash {
	var out []v1.Hash
	for _, d := range diffIDs {
		for _, f := range b.paths(d) {
			if _, err := os.Stat(f.path); err != nil {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// store writes f to its local file, unless there is one (the readers of
// those files check their format; one that does not check is rebuilt).
func (b *baseFiles) store(f remotecache.BaseFile) error {
	p := ""
	for _, lf := range b.paths(f.DiffID) {
		if lf.kind == f.Kind {
			p = lf.path
		}
	}
	if p == "" {
		return nil // an inventory, for a push that makes no SBOM
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, 0o644, func(w io.Writer) error { _, err := w.Write(f.Data); return err }, nil)
}

func (b *baseFiles) warn(err error) {
	b.mu.Lock()
	b.warnings = append(b.warnings, err)
	b.mu.Unlock()
}

// publishAll publishes, after the push, the base files of every repository
// whose registry cache lacked them (failures are warnings: the next fresh
// runner reads the base).
func (b *baseFiles) publishAll(ctx context.Context, jobs int) {
	if b == nil {
		return
	}
	var g errgroup.Group
	g.SetLimit(jobs)
	for _, p := range b.publish {
		g.Go(func() error {
			var files []remotecache.BaseFile
			for _, d := range p.diffIDs {
				for _, lf := range b.paths(d) {
					data, err := os.ReadFile(lf.path)
					if errors.Is(err, fs.ErrNotExist) {
						continue // not read by this push (the check was skipped)
					} else if err != nil {
						b.warn(err)
						return nil
					}
					files = append(files, remotecache.BaseFile{Kind: lf.kind, DiffID: d, Data: data})
				}
			}
			if len(files) > 0 {
				if err := remotecache.PutBaseFiles(ctx, p.repo, p.base, files, b.c.ropts); err != nil {
					b.warn(fmt.Errorf("%s: %w", p.repo, err))
				}
			}
			return nil
		})
	}
	g.Wait()
}

// printWarnings prints the warnings of the lookups and the publishing.
func (b *baseFiles) printWarnings(a *app, rf *registryFlags) {
	if b == nil {
		return
	}
	for _, w := range b.warnings {
		fmt.Fprintf(a.stderr, "strata: warning: %v\n", redacted(w, rf))
	}
	b.warnings = nil
}
