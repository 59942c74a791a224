package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/compose/remotecache"
	"github.com/strata-build/strata/spec"
)

// Where a pushed image came from (the --json "source" of each image).
const (
	sourceBuilt      = "built"          // at least one layer was compressed or reused from the registry
	sourceLocal      = "local-cache"    // every layer came from the local layer cache
	sourceRegistry   = "registry-cache" // the registry cache named the image: nothing built
	sourceUnchanged  = "unchanged"      // built or reused locally; the registry already had it
	remoteCacheUsage = "do not look images up in, or record them to, the registry cache (strata-cache-<key> tags)"
)

// remoteCache is a push's use of the registry cache: each spec's input key
// and the image the cache names for it, if any.
type remoteCache struct {
	keys  []*compose.Result // from compose.Keys; nil when the cache is off
	repos []*name.Repository
	hits  []*v1.Descriptor
	arts  []oci.Artifact // the hits' images, read lazily from the registry
	// from is, for a hit found through --cache-from, the repository that
	// has the image (nil for a hit in the spec's own repository).
	from []*name.Repository
	// refs are, for a hit found through --cache-from, the documents
	// (SBOM, provenance) attached to it there, copied with it.
	refs [][]v1.Image
	// layers are, by repository, the layers its records list by content
	// key (read for the specs that missed; see readLayerTables).
	layers map[string]map[string]remotecache.Layer
	specs  map[*spec.Source]int // spec (by its source) → index, for WithKnownLayers
	ropts  []remote.Option
	// listing waits for one repository's listing (nil: not listed).
	listing func(ctx context.Context, repo name.Repository) (*remotecache.Listing, bool)
}

// lookupOptions are the settings of lookupRemoteCache.
type lookupOptions struct {
	image     string            // --image: the repository bare tags belong to
	extra     []string          // --tag
	cacheFrom []name.Repository // --cache-from, after each spec's own
	// docTypes are the artifact types of the documents the push attaches;
	// a --cache-from hit must have some of them to be copied.
	docTypes []string
	jobs     int  // lookups at once
	fetch    bool // push: read each hit's image; else plan --changed
}

// lookup looks key up in repo; with fetch, a hit's manifest (and an
// image's config) is read too, and a failure to read it makes it a miss.
func (c *remoteCache) lookup(ctx context.Context, repo name.Repository, key string, fetch bool) (*v1.Descriptor, oci.Artifact, error) {
	var art oci.Artifact
	if !fetch {
		hit, err := remotecache.Lookup(ctx, repo, key, c.ropts)
		return hit, art, err
	}
	// The image's manifest confirms the record (remotecache.LookupImage).
	got, err := remotecache.LookupImage(ctx, repo, key, c.ropts)
	if got == nil || err != nil {
		return nil, art, err
	}
	ref := repo.Digest(got.Digest.String())
	if got.MediaType.IsIndex() {
		art.Index, err = got.ImageIndex()
	} else if art.Image, err = got.Image(); err == nil && got.Platform == nil {
		// The push reports the image's platform: from the record, or
		// else from the config (the remote image keeps it).
		_, err = art.Image.RawConfigFile()
	}
	art.Platform = got.Platform
	if err != nil {
		return nil, art, fmt.Errorf("remote cache: reading %s: %w", ref, err)
	}
	hit := got.Descriptor
	return &v1.Descriptor{MediaType: hit.MediaType, Digest: hit.Digest, Size: hit.Size}, art, nil
}

// lookupRemoteCache computes every spec's input key (hashing inputs, no
// compression) and looks it up in the repository of the spec's first push
// tag; opts must be the options the build will get (they are part of the
// key). A lookup that fails or finds a record that does not check is a
// warning: that spec is built. jobs bounds the lookups at once.
func (a *app) lookupRemoteCache(ctx context.Context, job *buildJob, rf *registryFlags, lo lookupOptions, opts []compose.Option) (*remoteCache, error) {
	image, extra, cacheFrom, jobs, fetch := lo.image, lo.extra, lo.cacheFrom, lo.jobs, lo.fetch
	ropts, err := registry.RemoteOptions(rf.cfg)
	if err != nil {
		return nil, err
	}
	// One puller and one pusher for every lookup, fetch and record: each
	// registry is pinged and authenticated once, not once per call.
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return nil, err
	}
	ropts = append(ropts, remote.Reuse(puller), remote.Reuse(pusher))
	n := len(job.specs)
	c := &remoteCache{repos: make([]*name.Repository, n), hits: make([]*v1.Descriptor, n), arts: make([]oci.Artifact, n),
		from: make([]*name.Repository, n), refs: make([][]v1.Image, n), keys: make([]*compose.Result, n), ropts: ropts}
	warnings := make([]error, n)
	// The repository each spec's record is in: that of its first push tag.
	for i, s := range job.specs {
		if tags, err := (&compose.Result{Spec: s}).PushTags(image, extra); err == nil && len(tags) > 0 {
			repo := tags[0].Repository
			c.repos[i] = &repo
		}
	}
	// Where each spec's key is looked up, in order: its own repository,
	// then every --cache-from repository (each once).
	where := func(i int) []name.Repository {
		if c.repos[i] == nil {
			return nil
		}
		out := []name.Repository{*c.repos[i]}
		for _, r := range cacheFrom {
			if r.Name() != c.repos[i].Name() {
				out = append(out, r)
			}
		}
		return out
	}
	// A push lists each repository's records (one request per repository,
	// while the first specs are hashed): a spec none of whose repositories
	// has a record cannot hit, so its inputs are not hashed (a cold push to
	// a new repository reads them once, to build), and a key that is not
	// listed is a miss without a request. A listing that fails decides
	// nothing: such a repository is looked up key by key. plan --changed
	// hashes every spec, to report its key.
	var listed func(ctx context.Context, repo name.Repository) (map[string]bool, bool)
	if fetch {
		var all []name.Repository
		for i := range job.specs {
			all = append(all, where(i)...)
		}
		c.listing = c.listRecords(ctx, all, jobs)
		listed = func(ctx context.Context, repo name.Repository) (map[string]bool, bool) {
			l, ok := c.listing(ctx, repo)
			if !ok {
				return nil, false
			}
			return l.Keys, true
		}
	}
	// mayHave reports whether repo may have a record for key ("" for any).
	mayHave := func(ctx context.Context, repo name.Repository, key string) bool {
		if listed == nil {
			return true
		}
		keys, ok := listed(ctx, repo)
		return !ok || key == "" && len(keys) > 0 || key != "" && keys[key]
	}
	keyIf := func(ctx context.Context, i int) bool {
		if !fetch {
			return true // plan --changed reports every spec's key
		}
		for _, r := range where(i) {
			if mayHave(ctx, r, "") {
				return true
			}
		}
		return false // no repository (push reports the tag problem), or no records
	}
	// Each key is looked up (and a hit's manifest and config fetched, when
	// fetch is set) as soon as it is known, while other specs are hashed.
	var g errgroup.Group
	g.SetLimit(jobs)
	keyed := func(i int, res *compose.Result) {
		if res.Key == "" {
			return // an unknown key is a miss
		}
		g.Go(func() error {
			for k, repo := range where(i) {
				if !mayHave(ctx, repo, res.Key) {
					continue
				}
				hit, art, err := c.lookup(ctx, repo, res.Key, fetch)
				if hit != nil && k > 0 && fetch {
					// Copied from another repository: with its documents,
					// or not at all.
					if c.refs[i], err = foreignDocs(ctx, rf.cfg, repo, hit.Digest, lo.docTypes); err != nil {
						hit = nil
					}
				}
				if err != nil && warnings[i] == nil {
					warnings[i] = err
				}
				if hit != nil {
					c.hits[i], c.arts[i], warnings[i] = hit, art, nil
					if k > 0 {
						c.from[i] = &repo
					}
					return nil
				}
			}
			return nil
		})
	}
	keys, err := compose.Keys(ctx, job.specs, job.paths, job.cacheDir, append(opts, compose.WithKeyIf(keyIf), compose.WithKeyed(keyed))...)
	g.Wait()
	if err != nil {
		return nil, redacted(err, rf)
	}
	copy(c.keys, keys)
	if fetch {
		c.readLayerTables(ctx, listed, jobs)
	}
	// A push builds a spec whose lookup failed; plan --changed lists it.
	then := "building it"
	if !fetch {
		then = "listing it as changed"
	}
	for i, w := range warnings {
		// Missing or rejected credentials are the push's to report, once.
		var te *transport.Error
		if w != nil && !(errors.As(w, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden)) {
			fmt.Fprintf(a.stderr, "strata: warning: %s: %v; %s\n", job.paths[i], redacted(w, rf), then)
		}
	}
	return c, ctx.Err()
}

// foreignDocs reads the documents of the given artifact types attached to
// image d in repo (a --cache-from repository), to copy them with it. With
// types wanted and none attached, the hit is refused: a copy without them
// would be recorded in the spec's own repository and never get them.
func foreignDocs(ctx context.Context, cfg registry.TransportConfig, repo name.Repository, d v1.Hash, types []string) ([]v1.Image, error) {
	if len(types) == 0 {
		return nil, nil
	}
	imgs, err := registry.AttachedImages(ctx, repo.Digest(d.String()), cfg, types...)
	if err != nil {
		return nil, fmt.Errorf("remote cache: %s@%s: %w", repo, d, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("remote cache: %s@%s has no SBOM or provenance attached to copy", repo, d)
	}
	return imgs, nil
}

// listRecords starts listing the records of repos, each repository once
// and in order, jobs at a time. The function it returns waits for one
// repository's listing and gives what it has records for; ok is false
// when the listing failed (nothing is concluded; the lookups that follow
// report what is wrong), the repository was not listed, or ctx ended first.
func (c *remoteCache) listRecords(ctx context.Context, repos []name.Repository, jobs int) func(ctx context.Context, repo name.Repository) (*remotecache.Listing, bool) {
	type listing struct {
		done chan struct{}
		list *remotecache.Listing
	}
	byRepo := map[string]*listing{}
	var order []name.Repository
	for _, r := range repos {
		if byRepo[r.Name()] == nil {
			byRepo[r.Name()] = &listing{done: make(chan struct{})}
			order = append(order, r)
		}
	}
	go func() {
		var g errgroup.Group
		g.SetLimit(jobs)
		for _, r := range order {
			l := byRepo[r.Name()]
			g.Go(func() error {
				defer close(l.done)
				l.list, _ = remotecache.List(ctx, r, c.ropts)
				return nil
			})
		}
		g.Wait()
	}()
	return func(ctx context.Context, repo name.Repository) (*remotecache.Listing, bool) {
		l := byRepo[repo.Name()]
		if l == nil {
			return nil, false
		}
		select {
		case <-l.done:
			return l.list, l.list != nil
		case <-ctx.Done():
			return nil, false
		}
	}
}

// build builds the specs the cache did not name (all of them when c is
// nil) and gives each cache hit a Result whose Artifact is the image in
// the registry (fetched by the lookup): pushing it uploads nothing and
// moves tags.
func (c *remoteCache) build(ctx context.Context, job *buildJob, opts []compose.Option) ([]*compose.Result, error) {
	var miss []int
	for i := range job.specs {
		if c == nil || c.hits[i] == nil {
			miss = append(miss, i)
		}
	}
	specs := make([]*spec.Spec, len(miss))
	paths := make([]string, len(miss))
	for k, i := range miss {
		specs[k], paths[k] = job.specs[i], job.paths[i]
	}
	if c != nil && len(c.specs) > 0 {
		opts = append(opts, compose.WithKnownLayers(c.knownLayers))
	}
	built, err := compose.BuildAll(ctx, specs, paths, job.cacheDir, opts...)
	if err != nil {
		return nil, err
	}
	results := make([]*compose.Result, len(job.specs))
	for k, i := range miss {
		results[i] = built[k]
	}
	for i, res := range results {
		if res == nil {
			r := *c.keys[i]
			r.Artifact, r.Digest, r.DryRun = c.arts[i], c.hits[i].Digest, false
			results[i] = &r
		}
	}
	return results, nil
}

// hitCount is the number of specs taken from the registry cache.
func (c *remoteCache) hitCount() int {
	n := 0
	for i := range c.hitsLen() {
		if c.hit(i) {
			n++
		}
	}
	return n
}

func (c *remoteCache) hitsLen() int {
	if c == nil {
		return 0
	}
	return len(c.hits)
}

// hit reports whether spec i was taken from the registry cache.
func (c *remoteCache) hit(i int) bool { return c != nil && c.hits[i] != nil }

// record writes a cache record for every spec that was built and pushed
// with a known key; a failure is a warning (the next runner builds again).
func (c *remoteCache) record(ctx context.Context, a *app, rf *registryFlags, job *buildJob, results []*compose.Result, jobs int, put remotecache.Putter) {
	if c == nil {
		return
	}
	warnings := make([]error, len(results))
	var g errgroup.Group
	g.SetLimit(jobs)
	for i, res := range results {
		// A hit is recorded only when it came from --cache-from: the
		// image is now in the spec's own repository too.
		if c.hit(i) && c.from[i] == nil || c.repos[i] == nil || res.Key == "" || c.keys[i] != nil && res.Key != c.keys[i].Key {
			continue
		}
		g.Go(func() error {
			desc, err := artifactDescriptor(res.Artifact)
			if err == nil {
				err = remotecache.Record(ctx, *c.repos[i], res.Key, desc, recordLayers(res), c.ropts, put)
			}
			warnings[i] = err
			return nil
		})
	}
	g.Wait()
	for i, w := range warnings {
		// A push that failed is reported as such, not its records.
		if w != nil && !errors.Is(w, registry.ErrPushFailed) {
			fmt.Fprintf(a.stderr, "strata: warning: %s: %v; a fresh runner will build it again\n", job.paths[i], redacted(w, rf))
		}
	}
}

// artifactDescriptor is the manifest descriptor of a.
func artifactDescriptor(a oci.Artifact) (v1.Descriptor, error) {
	var m interface {
		MediaType() (types.MediaType, error)
		Size() (int64, error)
		Digest() (v1.Hash, error)
	} = a.Image
	if a.Index != nil {
		m = a.Index
	}
	mt, err := m.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	n, err := m.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := m.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	desc := v1.Descriptor{MediaType: mt, Size: n, Digest: d}
	if a.Index == nil {
		if cf, err := a.Image.ConfigFile(); err == nil && cf.OS != "" && cf.Architecture != "" {
			desc.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		}
	}
	return desc, nil
}

// source says where pushed image i came from (see the source constants).
func (c *remoteCache) source(i int, res *compose.Result, art registry.PushedArtifact) string {
	if c.hit(i) {
		return sourceRegistry
	}
	unchanged := len(art.Tags) > 0
	for _, t := range art.Tags {
		unchanged = unchanged && t.Status == registry.TagUnchanged
	}
	switch {
	case unchanged:
		return sourceUnchanged
	case res.BytesCompressed == 0 && !reusedFromRegistry(res):
		return sourceLocal
	}
	return sourceBuilt
}

// reusedFromRegistry reports whether any layer of res is one its
// repository held (compose.WithKnownLayers).
func reusedFromRegistry(res *compose.Result) bool {
	for _, p := range res.Platforms {
		for _, l := range p.Layers {
			if l.Registry {
				return true
			}
		}
	}
	return false
}

// bytesRead is what spec i read: its key pass and its build.
func (c *remoteCache) bytesRead(i int, res *compose.Result) int64 {
	if c == nil || c.keys[i] == nil {
		return res.BytesRead
	}
	if c.hit(i) {
		return c.keys[i].BytesRead
	}
	return c.keys[i].BytesRead + res.BytesRead
}

// listedTags returns the tags each listed repository had (for
// registry.PushOptions.Listed); nil without a listing.
func (c *remoteCache) listedTags(ctx context.Context) map[string]map[string]bool {
	if c == nil || c.listing == nil {
		return nil
	}
	out := map[string]map[string]bool{}
	for _, r := range c.repos {
		if r == nil || out[r.Name()] != nil {
			continue
		}
		if l, ok := c.listing(ctx, *r); ok && !l.Missing {
			out[r.Name()] = l.Tags
		}
	}
	return out
}

// newRepositories names the spec repositories the registry did not know
// when they were listed (a push asks nothing first there).
func (c *remoteCache) newRepositories(ctx context.Context) []string {
	if c == nil || c.listing == nil {
		return nil
	}
	var out []string
	for _, r := range c.repos {
		if r == nil || slices.Contains(out, r.Name()) {
			continue
		}
		if l, ok := c.listing(ctx, *r); ok && l.Missing {
			out = append(out, r.Name())
		}
	}
	return out
}
