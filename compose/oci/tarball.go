package oci

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/ctxio"
)

// WriteTarball writes a docker-save tarball of a tagged with refs,
// atomically: the file appears complete at path or not at all.
//
// A docker-save tarball holds images, not indexes, and `docker load` of a
// tarball with several images of one name keeps only the last, so a must be
// a single image, or an index with exactly one platform image (attestation
// manifests do not count); for a
// multi-platform index this is an error that lists the platforms (write an
// OCI layout instead, or build one platform). The image is never chosen by
// the host's platform: the same build gives the same file on every machine.
//
// With no refs the image is written untagged (docker load reports its ID).
// Every layer is checked against its digest while it is written.
func WriteTarball(ctx context.Context, path string, a Artifact, refs []name.Tag, o WriteOptions) error {
	img, err := tarballImage(a)
	if err != nil {
		return fmt.Errorf("writing tarball %s: %w", path, err)
	}
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("writing tarball %s: %w", path, err)
	}
	atomicfile.RemoveStale(filepath.Dir(path), filepath.Base(path)+"-", time.Now())
	vimg := &verifiedImage{Image: img, ctx: ctx}
	m := map[name.Reference]v1.Image{}
	for _, t := range refs {
		m[t] = vimg
	}
	if len(refs) == 0 {
		ref, err := name.NewDigest("untagged@" + d.String())
		if err != nil {
			return fmt.Errorf("writing tarball %s: %w", path, err)
		}
		m[ref] = vimg
	}
	err = atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		return tarball.MultiRefWrite(m, ctxio.Writer(ctx, w))
	}, o.seam)
	if err != nil {
		return fmt.Errorf("writing tarball %s: %w", path, err)
	}
	return nil
}

// tarballImage returns the one image a docker tarball of a can hold.
func tarballImage(a Artifact) (v1.Image, error) {
	if a.Image != nil {
		return a.Image, nil
	}
	if a.Index == nil {
		return nil, fmt.Errorf("empty artifact")
	}
	im, err := a.Index.IndexManifest()
	if err != nil {
		return nil, err
	}
	var imgs []v1.Descriptor
	for _, d := range im.Manifests {
		if d.MediaType.IsImage() && IsPlatformImage(d) {
			imgs = append(imgs, d)
		}
	}
	if len(imgs) == 1 {
		return a.Index.Image(imgs[0].Digest)
	}
	var plats []string
	for _, d := range imgs {
		if d.Platform != nil {
			plats = append(plats, d.Platform.String())
		}
	}
	return nil, fmt.Errorf("a docker tarball holds one platform, but the image has %d (%s); build a single platform or write an OCI layout", len(imgs), strings.Join(plats, ", "))
}

// verifiedImage serves img's layers through readers that fail at EOF if the
// bytes do not match the layer's digest and size.
type verifiedImage struct {
	v1.Image
	ctx context.Context // the WriteTarball call's: governs fetches and reads
}

// Layers wraps every layer of the image.
func (v *verifiedImage) Layers() ([]v1.Layer, error) {
	ls, err := v.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = &verifiedLayer{Layer: l, ctx: v.ctx}
	}
	return out, nil
}

// verifiedLayer checks Compressed() against Digest() and Size().
type verifiedLayer struct {
	v1.Layer
	ctx context.Context
}

// Compressed returns the layer's bytes through a checking reader.
func (l *verifiedLayer) Compressed() (io.ReadCloser, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	rc, err := ctxio.Compressed(l.ctx, l.Layer)
	if err != nil {
		return nil, err
	}
	return &verifyReader{rc: rc, want: d, size: size, h: sha256.New()}, nil
}

// verifyReader hashes what it reads and fails at EOF on a mismatch.
type verifyReader struct {
	rc   io.ReadCloser
	want v1.Hash
	size int64
	h    hash.Hash
	n    int64
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		if cerr := checkDigest(v.want, v.size, v.h, v.n); cerr != nil {
			return n, fmt.Errorf("layer %s: %w", v.want, cerr)
		}
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.rc.Close() }
