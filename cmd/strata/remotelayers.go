package main

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/remotecache"
	"github.com/strata-build/strata/spec"
)

// Layer reuse on a fresh runner. A spec whose image the registry cache
// does not name (a changed service) is built, but its unchanged layers are
// in its repository already: the records of its earlier images list their
// layers by content key (the layer cache's key: the layer spec, format and
// every input's hash). The build asks for each layer by key before
// compressing it (compose.WithKnownLayers); a layer found, and confirmed
// there with its size by the registry, is used as it is: nothing is
// compressed or uploaded for it. Its SBOM inventory is read from the
// registry, which also checks its diffID.

// readLayerTables reads, for every repository with a spec that missed and
// records of other keys, the layers those records list.
func (c *remoteCache) readLayerTables(ctx context.Context, listed func(context.Context, name.Repository) (map[string]bool, bool), jobs int) {
	c.layers = map[string]map[string]remotecache.Layer{}
	c.specs = map[*spec.Source]int{}
	for i, k := range c.keys {
		if k == nil || c.hits[i] != nil || c.repos[i] == nil {
			continue
		}
		if src := k.Spec.Source(); src != nil {
			c.specs[src] = i
		}
		repo := *c.repos[i]
		if _, done := c.layers[repo.Name()]; done {
			continue
		}
		keys, ok := listed(ctx, repo)
		if !ok || len(keys) == 0 {
			continue
		}
		var list []string
		for key := range keys {
			list = append(list, key)
		}
		c.layers[repo.Name()] = remotecache.RecordedLayers(ctx, repo, list, jobs, c.ropts)
	}
}

// knownLayer is a compose.KnownLayers: the layer with content key key of
// spec s, if a record of s's repository lists it and the repository has
// its blob with the recorded size.
func (c *remoteCache) knownLayer(ctx context.Context, s *spec.Spec, key string) v1.Layer {
	i, ok := c.specs[s.Source()]
	if !ok || s.Source() == nil {
		return nil
	}
	repo := *c.repos[i]
	l, ok := c.layers[repo.Name()][key]
	if !ok {
		return nil
	}
	ref := repo.Digest(l.Digest.String())
	// The HEAD is the build's to cancel; the layer, read later by the
	// SBOM and the push, is not bound to the build's context.
	head, err := remote.Layer(ref, append(append([]remote.Option{}, c.ropts...), remote.WithContext(ctx))...)
	if err != nil {
		return nil
	}
	if n, err := head.Size(); err != nil || n != l.Size {
		return nil // not there (a HEAD), or not that blob
	}
	rl, err := remote.Layer(ref, c.ropts...)
	if err != nil {
		return nil
	}
	return &registryLayer{rl: rl, l: l}
}

// registryLayer is a layer a registry holds, described by a record.
type registryLayer struct {
	rl v1.Layer
	l  remotecache.Layer
}

func (r *registryLayer) Digest() (v1.Hash, error)            { return r.l.Digest, nil }
func (r *registryLayer) DiffID() (v1.Hash, error)            { return r.l.DiffID, nil }
func (r *registryLayer) Size() (int64, error)                { return r.l.Size, nil }
func (r *registryLayer) MediaType() (types.MediaType, error) { return r.l.MediaType, nil }
func (r *registryLayer) Compressed() (io.ReadCloser, error)  { return r.rl.Compressed() }
func (r *registryLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := r.rl.Compressed()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return gzipReadCloser{zr, rc}, nil
}

// gzipReadCloser reads z and closes both it and the compressed stream.
type gzipReadCloser struct {
	*gzip.Reader
	c io.Closer
}

func (g gzipReadCloser) Close() error {
	g.Reader.Close()
	return g.c.Close()
}

// recordLayers lists the layers of res by content key, for its record.
func recordLayers(res *compose.Result) []remotecache.Layer {
	var out []remotecache.Layer
	seen := map[string]bool{}
	for _, p := range res.Platforms {
		for _, l := range p.Layers {
			if l.Key == "" || seen[l.Key] {
				continue
			}
			seen[l.Key] = true
			out = append(out, remotecache.Layer{Key: l.Key, MediaType: types.MediaType(l.MediaType), Digest: l.Digest, DiffID: l.DiffID, Size: l.Size})
		}
	}
	return out
}

var _ v1.Layer = (*registryLayer)(nil)
