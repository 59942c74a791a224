package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/ctxio"
)

// outBlob is one blob an output sink writes: a manifest, a config or a layer.
type outBlob struct {
	digest v1.Hash
	size   int64
	open   func(ctx context.Context) (io.ReadCloser, error)
	local  LocalBlob // non-nil when the bytes are a verified local file
	meta   bool      // a config or manifest, held in memory
}

// artifactBlobs lists every blob of a (manifests, configs, layers; each digest
// once) and returns the descriptor of a's top manifest.
func artifactBlobs(a Artifact) (v1.Descriptor, []outBlob, error) {
	c := &blobCollector{seen: map[v1.Hash]bool{}}
	switch {
	case a.Index != nil:
		d, err := c.index(a.Index)
		return d, c.blobs, err
	case a.Image != nil:
		d, err := c.image(a.Image)
		if err != nil {
			return d, nil, err
		}
		cfg, err := a.Image.ConfigFile()
		if err != nil {
			return d, nil, fmt.Errorf("reading config: %w", err)
		}
		if cfg.OS != "" && cfg.Architecture != "" {
			d.Platform = &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
		}
		return d, c.blobs, nil
	}
	return v1.Descriptor{}, nil, errors.New("empty artifact")
}

// blobCollector gathers the blobs of an image graph.
type blobCollector struct {
	seen  map[v1.Hash]bool
	blobs []outBlob
}

// addBytes records a small in-memory blob.
func (c *blobCollector) addBytes(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if !c.seen[h] {
		c.seen[h] = true
		c.blobs = append(c.blobs, outBlob{digest: h, size: int64(len(b)), meta: true, open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
	}
	return h
}

// image records an image's config, layers and manifest.
func (c *blobCollector) image(img v1.Image) (v1.Descriptor, error) {
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading config: %w", err)
	}
	c.addBytes(cfg)
	layers, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading layers: %w", err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("layer digest: %w", err)
		}
		size, err := l.Size()
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("layer %s: %w", d, err)
		}
		if c.seen[d] {
			continue
		}
		c.seen[d] = true
		b := outBlob{digest: d, size: size, open: func(ctx context.Context) (io.ReadCloser, error) { return ctxio.Compressed(ctx, l) }}
		if lb, ok := l.(LocalBlob); ok {
			b.local = lb
		}
		c.blobs = append(c.blobs, b)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: c.addBytes(raw)}, nil
}

// index records an index, its children (recursively) and its manifest.
func (c *blobCollector) index(idx v1.ImageIndex) (v1.Descriptor, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading index: %w", err)
	}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return v1.Descriptor{}, err
			}
			if _, err := c.index(child); err != nil {
				return v1.Descriptor{}, err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return v1.Descriptor{}, err
			}
			if _, err := c.image(img); err != nil {
				return v1.Descriptor{}, err
			}
		default:
			return v1.Descriptor{}, fmt.Errorf("index child %s has unsupported media type %q", d.Digest, d.MediaType)
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading index: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: c.addBytes(raw)}, nil
}

// writeBlobs stores blobs under blobsDir/<algorithm>/<hex>, each complete or
// absent, at most o.jobs() at a time: a blob already there is kept; a
// verified local file is hard-linked; anything else is copied to a
// temporary file in tmpDir while being hashed, checked against its digest
// and size, and put in place atomically. Layers go first and configs and
// manifests only once every layer is in, so a failed write leaves no
// manifest or config in an existing layout that nothing refers to.
func writeBlobs(ctx context.Context, blobsDir, tmpDir string, blobs []outBlob, o WriteOptions) error {
	var layers, meta []outBlob
	for _, b := range blobs {
		if b.meta {
			meta = append(meta, b)
		} else {
			layers = append(layers, b)
		}
	}
	if err := writeBlobSet(ctx, blobsDir, tmpDir, layers, o); err != nil {
		return err
	}
	return writeBlobSet(ctx, blobsDir, tmpDir, meta, o)
}

// writeBlobSet writes blobs concurrently; see writeBlobs.
func writeBlobSet(ctx context.Context, blobsDir, tmpDir string, blobs []outBlob, o WriteOptions) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs())
	dirs := map[string]bool{}
	for _, b := range blobs {
		dirs[filepath.Join(blobsDir, b.digest.Algorithm)] = true
	}
	for d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, b := range blobs {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := writeBlob(ctx, blobsDir, tmpDir, b, o); err != nil {
				return fmt.Errorf("writing blob %s: %w", b.digest, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// writeBlob stores one blob; see writeBlobs.
func writeBlob(ctx context.Context, blobsDir, tmpDir string, b outBlob, o WriteOptions) error {
	final := filepath.Join(blobsDir, b.digest.Algorithm, b.digest.Hex)
	if fi, err := os.Stat(final); err == nil && fi.Size() == b.size {
		return nil
	}
	if b.local != nil && o.seam == nil {
		if src, err := b.local.BlobPath(ctx); err == nil {
			if fi, err := os.Stat(src); err == nil && fi.Mode().Perm()&0o044 == 0o044 && fi.Size() == b.size {
				if err := os.Link(src, final); err == nil || errors.Is(err, fs.ErrExist) {
					return nil
				}
			}
		}
	}
	if b.digest.Algorithm != "sha256" {
		return fmt.Errorf("unsupported digest algorithm %q", b.digest.Algorithm)
	}
	rc, err := b.open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := atomicfile.Create(tmpDir, "blob-*")
	if err != nil {
		return err
	}
	defer f.Abort()
	f.Wrap(o.seam)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), rc)
	if err != nil {
		return err
	}
	if err := checkDigest(b.digest, b.size, h, n); err != nil {
		return err
	}
	return f.Commit(final, blobstore.Mode)
}

// checkDigest compares a hashed stream of n bytes with its descriptor.
func checkDigest(want v1.Hash, size int64, h hash.Hash, n int64) error {
	got := hex.EncodeToString(h.Sum(nil))
	if got != want.Hex {
		return fmt.Errorf("content hashes to sha256:%s, not %s", got, want)
	}
	if n != size {
		return fmt.Errorf("content is %d bytes, descriptor says %d", n, size)
	}
	return nil
}
