package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/basetree"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/compose/remotecache"
	"github.com/strata-build/strata/compose/sbom"
	"github.com/strata-build/strata/spec"
)

// Base files through the registry cache. What a push learns by reading its
// base's layers (their header index for the base check, their SBOM
// inventory) is kept in the local cache; a fresh runner has neither and
// would download and gunzip the whole base again. A push therefore keeps
// those files in the registry cache of the image's repository too
// (remotecache.PutBaseFiles, after the push, when the repository's listing
// does not show them for that base and its layers), and a push whose local
// cache lacks them takes them from there once the base is resolved
// (remotecache.GetBaseFiles), instead of reading the base.
//
// A record in one repository is trusted as that repository's image
// records are: for pushes to that repository. So a push takes records
// only when every image it builds is tagged in that one repository only (a push of many
// services to many repositories reads its bases, and still writes the
// records), and what it takes is used for that push only: the index is
// handed to the base check, the inventory to the SBOM memo, in memory;
// neither is ever stored in the local cache.
type baseFiles struct {
	c        *remoteCache
	specs    []*spec.Spec // the job's, in the order of c's slices
	cacheDir string
	memo     *sbom.Memo // the push's SBOM memo; nil without SBOMs
	// trusted is set when every spec the push builds goes to one
	// repository: records are taken only then.
	trusted bool

	mu       sync.Mutex
	warnings []error
	fetched  map[string]*baseFetch   // by repository and key: one read each
	publish  map[string]*basePublish // by repository and key
}

// baseFetch is one record's read, shared by the specs that need it.
type baseFetch struct {
	once  sync.Once
	index map[v1.Hash][]byte // checked index files by diffID
	ok    bool               // every file the push needs was there and checked
}

// basePublish is what a push publishes for one repository, base and set
// of layers.
type basePublish struct {
	repo    name.Repository
	base    string
	diffIDs []v1.Hash
}

// newBaseFiles is the push's use of base-files records. image and extra
// are --image and --tag: every repository a built image is tagged in
// counts for the one-repository rule, not only the one its record is in.
func newBaseFiles(c *remoteCache, specs []*spec.Spec, cacheDir string, memo *sbom.Memo, image string, extra []string) *baseFiles {
	b := &baseFiles{c: c, specs: specs, cacheDir: cacheDir, memo: memo,
		fetched: map[string]*baseFetch{}, publish: map[string]*basePublish{}}
	repos := map[string]bool{}
	for i, s := range specs {
		if c.hits[i] != nil {
			continue
		}
		tags, err := (&compose.Result{Spec: s}).PushTags(image, extra)
		if err != nil || len(tags) == 0 {
			return b // the push reports it; nothing is trusted
		}
		for _, t := range tags {
			repos[t.Repository.Name()] = true
		}
	}
	b.trusted = len(repos) == 1
	return b
}

// option is the push's compose.WithBaseFiles, nil without a registry cache.
func (b *baseFiles) option() []compose.Option {
	if b == nil || b.c == nil || b.c.listing == nil {
		return nil
	}
	return []compose.Option{compose.WithBaseFiles(b.hook)}
}

// hook is the compose.BaseFiles of a push: it notes a record to publish
// when s's repository lacks one for its base and layers, and otherwise,
// when the push may trust it and the local cache lacks what it holds,
// reads it and hands its files over.
func (b *baseFiles) hook(ctx context.Context, s *spec.Spec, diffIDs []v1.Hash) func(v1.Hash) []byte {
	repo := b.repoOf(s)
	if repo == nil {
		return nil
	}
	bk := remotecache.BaseKey(s.Base, diffIDs)
	key := repo.Name() + "\x00" + bk
	l, ok := b.c.listing(ctx, *repo)
	if !ok {
		return nil // not listed: nothing is known, nothing is written
	}
	if !l.Bases[bk] {
		b.notePublish(key, *repo, s.Base, diffIDs)
		return nil
	}
	if !b.trusted || len(b.missing(diffIDs)) == 0 {
		return nil
	}
	b.mu.Lock()
	f := b.fetched[key]
	if f == nil {
		f = &baseFetch{}
		b.fetched[key] = f
	}
	b.mu.Unlock()
	f.once.Do(func() { b.fetch(ctx, f, *repo, s.Base, diffIDs) })
	if !f.ok {
		b.notePublish(key, *repo, s.Base, diffIDs) // written again, whole
		return nil
	}
	return func(d v1.Hash) []byte { return f.index[d] }
}

// fetch reads the record of base and diffIDs in repo into f. Every file
// is checked (the index by its decoder, the inventory as the SBOM memo
// checks its own files), and only a record that holds every file the push
// needs is used: its inventories go to the SBOM memo, for this push, and
// its indexes to the base check. A record missing some (written by a push
// without SBOMs) is not used, and is written again after this push.
func (b *baseFiles) fetch(ctx context.Context, f *baseFetch, repo name.Repository, base string, diffIDs []v1.Hash) {
	files, err := remotecache.GetBaseFiles(ctx, repo, base, diffIDs, b.c.ropts)
	index, inv := map[v1.Hash][]byte{}, map[v1.Hash][]byte{}
	for _, bf := range files {
		switch bf.Kind {
		case remotecache.BaseIndex:
			err = basetree.CheckIndex(bf.Data)
			index[bf.DiffID] = bf.Data
		case remotecache.BaseInventory:
			err = sbom.CheckInventory(bf.DiffID, bf.Data)
			inv[bf.DiffID] = bf.Data
		}
		if err != nil {
			err = fmt.Errorf("the %s of %s: %w", bf.Kind, bf.DiffID, err)
			break
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			b.warn(fmt.Errorf("%s: base files of %s: %w; reading the base", repo, base, err))
		}
		return
	}
	for _, d := range diffIDs {
		if index[d] == nil || b.memo != nil && inv[d] == nil {
			return
		}
	}
	if b.memo != nil {
		for d, data := range inv {
			if err := b.memo.Preload(d, data); err != nil {
				return // (checked above)
			}
		}
	}
	f.index, f.ok = index, true
}

func (b *baseFiles) notePublish(key string, repo name.Repository, base string, diffIDs []v1.Hash) {
	b.mu.Lock()
	b.publish[key] = &basePublish{repo: repo, base: base, diffIDs: diffIDs}
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

// baseFile is the kind and local path of one base file.
type baseFile struct{ kind, path string }

// paths are the local files of layer d the push needs, in a fixed order.
func (b *baseFiles) paths(d v1.Hash) []baseFile {
	out := []baseFile{{remotecache.BaseIndex, basetree.IndexFile(b.cacheDir, d)}}
	if b.memo != nil {
		out = append(out, baseFile{remotecache.BaseInventory, sbom.InventoryFile(filepath.Join(b.cacheDir, "sbom"), d)})
	}
	return out
}

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

func (b *baseFiles) warn(err error) {
	b.mu.Lock()
	b.warnings = append(b.warnings, err)
	b.mu.Unlock()
}

// publishAll publishes, after the push, the base files of every repository
// whose registry cache lacked them for its base and layers, from the
// local cache (what this push or an earlier one read of the base itself;
// never a registry's copy). A set the local cache does not hold whole (the
// base check was skipped) is not published. Failures are warnings: the
// next fresh runner reads the base.
func (b *baseFiles) publishAll(ctx context.Context, jobs int, put remotecache.Putter) {
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
						return nil // not read by this push: nothing whole to publish
					} else if err != nil {
						b.warn(fmt.Errorf("%s: publishing the base files of %s: %w", p.repo, p.base, err))
						return nil
					}
					files = append(files, remotecache.BaseFile{Kind: lf.kind, DiffID: d, Data: data})
				}
			}
			// (A push that failed is reported as such, not its record.)
			if err := remotecache.PutBaseFiles(ctx, p.repo, p.base, p.diffIDs, files, b.c.ropts, put); err != nil && ctx.Err() == nil && !errors.Is(err, registry.ErrPushFailed) {
				b.warn(fmt.Errorf("%s: %w", p.repo, err))
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
