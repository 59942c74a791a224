package base

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/ctxio"
)

// cachedImage is a registry base image whose manifest and config are cached
// and whose layers are fetched into the cache on first use.
type cachedImage struct {
	f         *baseFetcher
	raw       []byte
	digest    v1.Hash
	mediaType types.MediaType
	manifest  *v1.Manifest
	rawConfig []byte
	layers    []*cachedLayer
}

var (
	_ v1.Image      = (*cachedImage)(nil)
	_ v1.Layer      = (*cachedLayer)(nil)
	_ oci.LocalBlob = (*cachedLayer)(nil)
	_ ctxio.Layer   = (*cachedLayer)(nil)
)

// newCachedImage builds the image for the manifest raw (digest h), reading
// its config through f under ctx.
func newCachedImage(ctx context.Context, f *baseFetcher, h v1.Hash, raw []byte, mt types.MediaType) (*cachedImage, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", h, err)
	}
	if m.Config.Size > maxSmallBlob {
		return nil, fmt.Errorf("manifest %s: config of %d bytes is too large", h, m.Config.Size)
	}
	cfgRaw, err := f.smallBlob(ctx, m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading config of %s: %w", h, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
	if err != nil {
		return nil, fmt.Errorf("parsing config of %s: %w", h, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image %s: manifest has %d layers but config has %d diff_ids", h, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	img := &cachedImage{f: f, raw: raw, digest: h, mediaType: mt, manifest: m, rawConfig: cfgRaw}
	for i, d := range m.Layers {
		img.layers = append(img.layers, &cachedLayer{f: f, desc: d, diffID: cfg.RootFS.DiffIDs[i]})
	}
	return img, nil
}

// Layers returns the base layers, served from the cache.
func (i *cachedImage) Layers() ([]v1.Layer, error) {
	out := make([]v1.Layer, len(i.layers))
	for n, l := range i.layers {
		out[n] = l
	}
	return out, nil
}

// MediaType returns the manifest's media type.
func (i *cachedImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }

// Size returns the manifest's size.
func (i *cachedImage) Size() (int64, error) { return int64(len(i.raw)), nil }

// ConfigName returns the config's digest.
func (i *cachedImage) ConfigName() (v1.Hash, error) { return i.manifest.Config.Digest, nil }

// ConfigFile returns a fresh copy of the parsed config.
func (i *cachedImage) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(i.rawConfig))
}

// RawConfigFile returns the config bytes.
func (i *cachedImage) RawConfigFile() ([]byte, error) { return i.rawConfig, nil }

// Digest returns the manifest digest.
func (i *cachedImage) Digest() (v1.Hash, error) { return i.digest, nil }

// Manifest returns a copy of the parsed manifest.
func (i *cachedImage) Manifest() (*v1.Manifest, error) { return i.manifest.DeepCopy(), nil }

// RawManifest returns the manifest bytes as the registry served them.
func (i *cachedImage) RawManifest() ([]byte, error) { return i.raw, nil }

// LayerByDigest returns the layer (or config blob) with digest h.
func (i *cachedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, l := range i.layers {
		if l.desc.Digest == h {
			return l, nil
		}
	}
	if h == i.manifest.Config.Digest {
		return partial.ConfigLayer(i)
	}
	return nil, fmt.Errorf("base image %s has no layer %s", i.digest, h)
}

// LayerByDiffID returns the layer with uncompressed digest h.
func (i *cachedImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for _, l := range i.layers {
		if l.diffID == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("base image %s has no layer with diff id %s", i.digest, h)
}

// cachedLayer is a base layer whose digest, diffID, size and media type come
// from the manifest and config; its bytes come from the cache and are never
// recompressed.
type cachedLayer struct {
	f      *baseFetcher
	desc   v1.Descriptor
	diffID v1.Hash
}

// Digest returns the compressed digest from the manifest.
func (l *cachedLayer) Digest() (v1.Hash, error) { return l.desc.Digest, nil }

// DiffID returns the uncompressed digest from the config.
func (l *cachedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size returns the compressed size from the manifest.
func (l *cachedLayer) Size() (int64, error) { return l.desc.Size, nil }

// MediaType returns the layer's media type from the manifest.
func (l *cachedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// Descriptor returns the manifest's descriptor, annotations and URLs kept.
func (l *cachedLayer) Descriptor() (*v1.Descriptor, error) {
	d := l.desc
	return &d, nil
}

// CompressedContext opens the cached blob, fetching and verifying it under
// ctx on first use.
func (l *cachedLayer) CompressedContext(ctx context.Context) (io.ReadCloser, error) {
	p, err := l.BlobPath(ctx)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// Compressed is CompressedContext without a deadline (v1.Layer has no
// context); strata's own readers use ctxio.Compressed.
func (l *cachedLayer) Compressed() (io.ReadCloser, error) {
	return l.CompressedContext(context.Background())
}

// UncompressedContext decompresses the cached blob, fetching it under ctx
// first if needed.
func (l *cachedLayer) UncompressedContext(ctx context.Context) (io.ReadCloser, error) {
	if _, err := l.BlobPath(ctx); err != nil {
		return nil, err
	}
	return blobstore.Uncompressed(l) // served from the cache now
}

// Uncompressed is UncompressedContext without a deadline.
func (l *cachedLayer) Uncompressed() (io.ReadCloser, error) {
	return l.UncompressedContext(context.Background())
}

// BlobPath returns the verified cached blob's path, fetching it under ctx
// first if needed (output sinks hard-link it).
func (l *cachedLayer) BlobPath(ctx context.Context) (string, error) {
	return l.f.blobPath(ctx, l.desc.Digest)
}

// Local reports whether the layer's blob is in the cache already, so
// reading it needs no network.
func (l *cachedLayer) Local() bool { return l.f.store.Has(l.desc.Digest) }

// cachedIndex is a registry base index whose children are read through the
// cache.
type cachedIndex struct {
	f         *baseFetcher
	raw       []byte
	digest    v1.Hash
	mediaType types.MediaType
	manifest  *v1.IndexManifest
}

var _ v1.ImageIndex = (*cachedIndex)(nil)

// newCachedIndex parses the index raw (digest h).
func newCachedIndex(f *baseFetcher, h v1.Hash, raw []byte, mt types.MediaType) (*cachedIndex, error) {
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing index %s: %w", h, err)
	}
	return &cachedIndex{f: f, raw: raw, digest: h, mediaType: mt, manifest: m}, nil
}

// MediaType returns the index's media type.
func (x *cachedIndex) MediaType() (types.MediaType, error) { return x.mediaType, nil }

// Digest returns the index's digest.
func (x *cachedIndex) Digest() (v1.Hash, error) { return x.digest, nil }

// Size returns the index's size.
func (x *cachedIndex) Size() (int64, error) { return int64(len(x.raw)), nil }

// IndexManifest returns a copy of the parsed index.
func (x *cachedIndex) IndexManifest() (*v1.IndexManifest, error) { return x.manifest.DeepCopy(), nil }

// RawManifest returns the index bytes as the registry served them.
func (x *cachedIndex) RawManifest() ([]byte, error) { return x.raw, nil }

// child finds the descriptor of h in the index.
func (x *cachedIndex) child(h v1.Hash) (v1.Descriptor, error) {
	for _, d := range x.manifest.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("index %s has no manifest %s", x.digest, h)
}

// childManifest returns the media type and bytes of the child manifest h,
// fetched under ctx if it is not cached.
func (x *cachedIndex) childManifest(ctx context.Context, h v1.Hash) (types.MediaType, []byte, error) {
	d, err := x.child(h)
	if err != nil {
		return "", nil, err
	}
	raw, err := x.f.manifest(ctx, h)
	return d.MediaType, raw, err
}

// ImageContext returns the child image h, fetching what is missing under
// ctx (narrowing an index uses it while resolving).
func (x *cachedIndex) ImageContext(ctx context.Context, h v1.Hash) (v1.Image, error) {
	mt, raw, err := x.childManifest(ctx, h)
	if err != nil {
		return nil, err
	}
	return newCachedImage(ctx, x.f, h, raw, mt)
}

// Image is ImageContext without a deadline (v1.ImageIndex has no context).
func (x *cachedIndex) Image(h v1.Hash) (v1.Image, error) {
	return x.ImageContext(context.Background(), h)
}

// ImageIndex returns the child index h.
func (x *cachedIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	mt, raw, err := x.childManifest(context.Background(), h)
	if err != nil {
		return nil, err
	}
	return newCachedIndex(x.f, h, raw, mt)
}
