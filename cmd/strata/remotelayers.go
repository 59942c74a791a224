package main

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

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
		if k == nil || c.hits[i] != nil || c.repos[i] == nil || k.Spec.Source() == nil {
			continue
		}
		repo := *c.repos[i]
		if _, done := c.layers[repo.Name()]; !done {
			c.layers[repo.Name()] = nil
			if keys, ok := listed(ctx, repo); ok && len(keys) > 0 {
				list := make([]string, 0, len(keys))
				for key := range keys {
					list = append(list, key)
				}
				c.layers[repo.Name()] = remotecache.RecordedLayers(ctx, repo, list, jobs, c.ropts)
			}
		}
		// Only a spec whose repository lists layers is looked up (its
		// layers are tarred ahead of the write for it).
		if len(c.layers[repo.Name()]) > 0 {
			c.specs[k.Spec.Source()] = i
		}
	}
}

// knownLayers is a compose.KnownLayers: for a spec whose repository lists
// layers, the lookup of one by content key (knownLayer); nil for others.
func (c *remoteCache) knownLayers(s *spec.Spec) func(context.Context, string) v1.Layer {
	i, ok := c.specs[s.Source()]
	if !ok || s.Source() == nil {
		return nil
	}
	return func(ctx context.Context, key string) v1.Layer { return c.knownLayer(ctx, i, key) }
}

// knownLayer is the layer with content key key of spec i, if a record of
// its repository lists it and the repository has its blob with the
// recorded size.
func (c *remoteCache) knownLayer(ctx context.Context, i int, key string) v1.Layer {
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
	return &registryLayer{rl: rl, l: l, repo: repo}
}

// registryLayer is a layer a registry holds, described by a record.
type registryLayer struct {
	rl   v1.Layer
	l    remotecache.Layer
	repo name.Repository
}

func (r *registryLayer) Digest() (v1.Hash, error)            { return r.l.Digest, nil }
func (r *registryLayer) DiffID() (v1.Hash, error)            { return r.l.DiffID, nil }
func (r *registryLayer) Size() (int64, error)                { return r.l.Size, nil }
func (r *registryLayer) MediaType() (types.MediaType, error) { return r.l.MediaType, nil }

// Compressed reads the blob from the registry.
func (r *registryLayer) Compressed() (io.ReadCloser, error) {
	rc, err := r.rl.Compressed()
	return rc, r.gone(err)
}

// Uncompressed reads the blob from the registry, gunzipped by ggcr.
func (r *registryLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := r.rl.Uncompressed()
	return rc, r.gone(err)
}

// gone explains a failure to read the blob.
func (r *registryLayer) gone(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("layer %s, reused from %s through the registry cache, cannot be read (deleted since?); run again to build it: %w", r.l.Digest, r.repo, err)
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
