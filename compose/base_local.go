package compose

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"

	"github.com/strata-build/strata/spec"
)

// refNameAnnotation names an image in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// resolveLayout reads a base from an OCI image layout. The image is picked by
// its ref name (tag), by digest, or is the layout's only image or index.
func resolveLayout(b baseRef, want []spec.Platform) (*resolvedBase, error) {
	if _, err := os.Stat(filepath.Join(b.dir, "index.json")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("oci layout %s: no index.json (not an OCI image layout)", b.dir)
		}
		return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
	}
	idx, err := layout.ImageIndexFromPath(b.dir)
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: reading index.json: %w", b.dir, err)
	}
	d, err := pickLayoutEntry(im.Manifests, b)
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
	}
	var plats []platformBase
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
		}
		plats, err = narrowIndex(child, want)
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
		}
	} else {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
		}
		plats, err = narrowImage(img, want)
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
		}
	}
	return &resolvedBase{Platforms: plats}, nil
}

// pickLayoutEntry finds the index.json entry b names.
func pickLayoutEntry(ds []v1.Descriptor, b baseRef) (v1.Descriptor, error) {
	switch {
	case b.dgst.Hex != "":
		for _, d := range ds {
			if d.Digest == b.dgst {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("no image with digest %s in index.json", b.dgst)
	case b.tag != "":
		var found []v1.Descriptor
		for _, d := range ds {
			if d.Annotations[refNameAnnotation] == b.tag {
				found = append(found, d)
			}
		}
		switch {
		case len(found) == 0:
			return v1.Descriptor{}, fmt.Errorf("no image tagged %q (tags: %s)", b.tag, layoutTags(ds))
		case len(found) > 1 && found[0].Digest != found[1].Digest:
			return v1.Descriptor{}, fmt.Errorf("tag %q names %d different images", b.tag, len(found))
		}
		return found[0], nil
	}
	switch len(ds) {
	case 1:
		return ds[0], nil
	case 0:
		return v1.Descriptor{}, errors.New("index.json lists no images")
	}
	return v1.Descriptor{}, fmt.Errorf("index.json lists %d images; name one with oci:DIR:tag or oci:DIR@digest (tags: %s)", len(ds), layoutTags(ds))
}

// layoutTags lists the ref names in ds, sorted, for messages.
func layoutTags(ds []v1.Descriptor) string {
	var tags []string
	for _, d := range ds {
		if t, ok := d.Annotations[refNameAnnotation]; ok {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return "none"
	}
	sort.Strings(tags)
	return strings.Join(tags, ", ")
}

// resolveArchive reads a base from a docker-save tarball. A gzip-compressed
// archive is decompressed once into the cache, keyed by the archive's sha256,
// because reading a docker-save tarball needs random access.
func resolveArchive(ctx context.Context, b baseRef, want []spec.Platform, o *options) (*resolvedBase, error) {
	path, err := archiveTarPath(ctx, b.file, o.cacheDir)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", b.file, err)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", b.file, err)
	}
	plats, err := narrowImage(img, want)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", b.file, err)
	}
	return &resolvedBase{Platforms: plats}, nil
}

// archiveTarPath returns a path to the uncompressed form of the archive file:
// the file itself, or its decompressed copy in cacheDir/archives.
func archiveTarPath(ctx context.Context, file, cacheDir string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", errors.New("no such file")
		}
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	magic := make([]byte, 2)
	if _, err := io.ReadFull(f, magic); err != nil {
		return "", fmt.Errorf("reading: %w", err)
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		return file, nil // a plain tar
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	sum, _, err := v1.SHA256(bufio.NewReader(&ctxReader{ctx: ctx, r: f}))
	if err != nil {
		return "", fmt.Errorf("hashing: %w", err)
	}
	dir := filepath.Join(cacheDir, "archives")
	out := filepath.Join(dir, sum.Hex+".tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return "", fmt.Errorf("decompressing: %w", err)
	}
	defer zr.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	err = writeFileAtomic(out, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, &ctxReader{ctx: ctx, r: zr})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("decompressing: %w", err)
	}
	return out, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
