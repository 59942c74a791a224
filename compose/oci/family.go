package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/ctxio"
)

// ociLayerTypes maps the Docker layer media types a base may carry to their
// OCI equivalents: the same bytes under the OCI name.
var ociLayerTypes = map[types.MediaType]types.MediaType{
	types.DockerLayer:             types.OCILayer,
	types.DockerUncompressedLayer: types.OCIUncompressedLayer,
	types.DockerForeignLayer:      types.OCIRestrictedLayer,
}

// Family returns img with every layer descriptor of its OCI manifest in
// the OCI family: a base with Docker media types (schema 2) leaves its
// layers' descriptors typed application/vnd.docker.image.rootfs.diff.tar.gzip
// inside strata's OCI manifest, which umoci and other strict OCI tools
// refuse. Only the descriptors' media types change; the layers keep their
// bytes, digests and sizes. An image already in one family is returned as
// it is, so its digest does not move.
func Family(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	m = m.DeepCopy()
	changed := map[v1.Hash]types.MediaType{}
	for i, d := range m.Layers {
		if oci, ok := ociLayerTypes[d.MediaType]; ok {
			m.Layers[i].MediaType = oci
			changed[d.Digest] = oci
		}
	}
	if len(changed) == 0 {
		return img, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	digest, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &ociTypedImage{Image: img, manifest: m, raw: raw, digest: digest, size: size, changed: changed}, nil
}

// ociTypedImage is an image whose manifest was rewritten by Family; its
// layers report the media types the manifest gives them.
type ociTypedImage struct {
	v1.Image
	manifest *v1.Manifest
	raw      []byte
	digest   v1.Hash
	size     int64
	changed  map[v1.Hash]types.MediaType // layer digest → its new media type
}

func (i *ociTypedImage) MediaType() (types.MediaType, error) { return i.manifest.MediaType, nil }
func (i *ociTypedImage) Manifest() (*v1.Manifest, error)     { return i.manifest.DeepCopy(), nil }
func (i *ociTypedImage) RawManifest() ([]byte, error)        { return bytes.Clone(i.raw), nil }
func (i *ociTypedImage) Digest() (v1.Hash, error)            { return i.digest, nil }
func (i *ociTypedImage) Size() (int64, error)                { return i.size, nil }

// Layers returns the image's layers, typed as in the manifest.
func (i *ociTypedImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for k, l := range ls {
		if out[k], err = i.retype(l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LayerByDigest returns the layer with digest h, typed as in the manifest.
func (i *ociTypedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return i.retype(l)
}

// retype wraps l to report its new media type, keeping a local blob
// visible to the sinks (LocalBlob).
func (i *ociTypedImage) retype(l v1.Layer) (v1.Layer, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	mt, ok := i.changed[d]
	if !ok {
		return l, nil
	}
	t := typedLayer{Layer: l, mediaType: mt}
	if lb, ok := l.(LocalBlob); ok {
		return localTypedLayer{t, lb}, nil
	}
	return t, nil
}

// typedLayer is a layer reported under another media type (same bytes).
type typedLayer struct {
	v1.Layer
	mediaType types.MediaType
}

func (l typedLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// CompressedContext reads the layer under ctx (a base layer may still have
// to be fetched).
func (l typedLayer) CompressedContext(ctx context.Context) (io.ReadCloser, error) {
	return ctxio.Compressed(ctx, l.Layer)
}

// UncompressedContext reads the layer under ctx.
func (l typedLayer) UncompressedContext(ctx context.Context) (io.ReadCloser, error) {
	return ctxio.Uncompressed(ctx, l.Layer)
}

// localTypedLayer is a typedLayer whose blob is a local file.
type localTypedLayer struct {
	typedLayer
	local LocalBlob
}

// BlobPath returns the local blob's path.
func (l localTypedLayer) BlobPath(ctx context.Context) (string, error) { return l.local.BlobPath(ctx) }

var (
	_ v1.Image    = (*ociTypedImage)(nil)
	_ LocalBlob   = localTypedLayer{}
	_ ctxio.Layer = typedLayer{}
)
