package oci

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
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

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/ctxio"
	"github.com/strata-build/strata/spec"
)

// RefNameAnnotation names an image in an OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Read opens the image or index an oci: or docker-archive: location names,
// unchanged (an index is not narrowed to platforms). cacheDir holds the
// decompressed copy of a gzip docker archive. Errors do not repeat the
// location; callers say what it was for.
func Read(ctx context.Context, l spec.Location, cacheDir string) (Artifact, error) {
	switch l.Kind {
	case spec.LocationLayout:
		return ReadLayout(l)
	case spec.LocationArchive:
		img, err := ReadArchive(ctx, l.File, cacheDir)
		return Artifact{Image: img}, err
	}
	return Artifact{}, errors.New("not a local image location (oci: or docker-archive:)")
}

// ReadLayout opens the image or index of the OCI layout l names: by its ref
// name (l.Tag), by digest, or the layout's only entry.
//
// Ref names may contain "/" and ":" (strata names images repo:tag when
// several specs share a layout, e.g. oci:DIR:registry.example/app:v1), so
// the grammar's split at the last ":" after the last "/" can fall inside
// the ref name. When l.Dir is not a layout, the first split whose directory
// part is one wins.
func ReadLayout(l spec.Location) (Artifact, error) {
	l = SplitLayoutRef(l)
	if fi, err := os.Stat(filepath.Join(l.Dir, "index.json")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Artifact{}, errors.New("no index.json (not an OCI image layout)")
		}
		return Artifact{}, err
	} else if !fi.Mode().IsRegular() {
		return Artifact{}, errors.New("index.json is not a regular file")
	}
	idx, err := layout.ImageIndexFromPath(l.Dir)
	if err != nil {
		return Artifact{}, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return Artifact{}, fmt.Errorf("reading index.json: %w", err)
	}
	d, err := pickLayoutEntry(im.Manifests, l)
	if err != nil {
		return Artifact{}, err
	}
	// Every blob the picked entry needs must be a regular file: reading a
	// FIFO or a device would hang or never end.
	if err := regularBlobs(l.Dir, d); err != nil {
		return Artifact{}, err
	}
	// The top manifest must hash to the name index.json gives it (a
	// manifest edited in place keeps its old file name).
	raw, err := layout.Path(l.Dir).Bytes(d.Digest)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(raw)); got != d.Digest {
		return Artifact{}, fmt.Errorf("manifest %s: content hashes to %s (the blob was changed under its name)", d.Digest, got)
	}
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		return Artifact{Index: child}, err
	}
	img, err := idx.Image(d.Digest)
	return Artifact{Image: img}, err
}

// LayoutRefDigest returns the digest the OCI layout dir records under the
// ref name refName, or the zero hash when dir is not a layout or has no
// such entry (or several that disagree).
func LayoutRefDigest(dir, refName string) (v1.Hash, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return v1.Hash{}, nil
	}
	if err != nil {
		return v1.Hash{}, err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading %s: %w", filepath.Join(dir, "index.json"), err)
	}
	d, err := pickLayoutEntry(im.Manifests, spec.Location{Kind: spec.LocationLayout, Dir: dir, Tag: refName})
	if err != nil {
		return v1.Hash{}, nil
	}
	return d.Digest, nil
}

// regularBlobs checks that the blob of d and, recursively, of everything
// it names (index children, config, layers) is a regular file of the
// layout at dir, and that no manifest is absurdly large. Missing blobs are
// left to the reader to report.
func regularBlobs(dir string, d v1.Descriptor) error {
	p := filepath.Join(dir, "blobs", d.Digest.Algorithm, d.Digest.Hex)
	fi, err := os.Stat(p)
	if err != nil {
		return nil
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("blob %s is not a regular file", d.Digest)
	}
	if !d.MediaType.IsIndex() && !d.MediaType.IsImage() {
		return nil
	}
	if fi.Size() > maxManifestSize {
		return fmt.Errorf("manifest %s is %d bytes; manifests are at most %d", d.Digest, fi.Size(), maxManifestSize)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var m struct {
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return nil // the reader reports it
	}
	kids := append(m.Layers, m.Manifests...)
	if m.Config != nil {
		kids = append(kids, *m.Config)
	}
	for _, k := range kids {
		if err := regularBlobs(dir, k); err != nil {
			return err
		}
	}
	return nil
}

// maxManifestSize bounds a manifest read from a layout (registries refuse
// manifests over 4 MiB).
const maxManifestSize = 4 << 20

// SplitLayoutRef returns l with DIR:REF split again where DIR is a layout,
// when l.Dir is not one (see ReadLayout): the directory messages should
// name.
func SplitLayoutRef(l spec.Location) spec.Location {
	if l.Digest != (v1.Hash{}) || l.Tag == "" {
		return l
	}
	if _, err := os.Stat(filepath.Join(l.Dir, "index.json")); err == nil {
		return l
	}
	rest := l.Dir + ":" + l.Tag
	for i := strings.IndexByte(rest, ':'); i >= 0 && i < len(rest)-1; {
		if _, err := os.Stat(filepath.Join(rest[:i], "index.json")); err == nil {
			l.Dir, l.Tag = rest[:i], rest[i+1:]
			return l
		}
		j := strings.IndexByte(rest[i+1:], ':')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return l
}

// pickLayoutEntry finds the index.json entry b names.
func pickLayoutEntry(ds []v1.Descriptor, l spec.Location) (v1.Descriptor, error) {
	switch {
	case l.Digest.Hex != "":
		for _, d := range ds {
			if d.Digest == l.Digest {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("no image with digest %s in index.json", l.Digest)
	case l.Tag != "":
		var found []v1.Descriptor
		for _, d := range ds {
			if d.Annotations[RefNameAnnotation] == l.Tag {
				found = append(found, d)
			}
		}
		switch {
		case len(found) == 0:
			return v1.Descriptor{}, fmt.Errorf("no image tagged %q (tags: %s)", l.Tag, layoutTags(ds))
		case len(found) > 1 && found[0].Digest != found[1].Digest:
			return v1.Descriptor{}, fmt.Errorf("tag %q names %d different images", l.Tag, len(found))
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
		if t, ok := d.Annotations[RefNameAnnotation]; ok {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return "none"
	}
	sort.Strings(tags)
	return strings.Join(tags, ", ")
}

// ReadArchive opens the one image of a docker-save archive (.tar, or
// .tar.gz decompressed once into cacheDir; see ArchiveTar). Its manifest is
// read here, so a broken archive fails now, not in the middle of a push.
func ReadArchive(ctx context.Context, file, cacheDir string) (v1.Image, error) {
	path, err := ArchiveTar(ctx, file, cacheDir)
	if err != nil {
		return nil, err
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err == nil {
		_, err = img.Manifest()
	}
	if err != nil {
		return nil, err
	}
	return img, nil
}

// Bounds of a gzip docker archive's decompressed copy: archiveRatio times
// the compressed size, and never less than archiveFloor. Image tarballs
// compress 2-10 times; a gzip bomb compresses a thousand times.
const (
	archiveRatio = 200
	archiveFloor = 1 << 30
)

// archiveLimit is the largest decompressed copy of a gzip archive of
// compressed bytes.
func archiveLimit(compressed int64) int64 {
	return max(archiveFloor, compressed*archiveRatio)
}

// ArchiveTar returns a path to the uncompressed form of the archive file:
// the file itself, or its decompressed copy in cacheDir/archives, which may
// be at most 200 times the compressed size (and always 1 GiB).
func ArchiveTar(ctx context.Context, file, cacheDir string) (string, error) {
	return archiveTar(ctx, file, cacheDir, archiveLimit)
}

func archiveTar(ctx context.Context, file, cacheDir string, limit func(int64) int64) (string, error) {
	// Checked before opening: opening a FIFO for reading waits for a writer.
	if fi, err := os.Stat(file); err == nil && !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
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
	sum, _, err := v1.SHA256(bufio.NewReader(ctxio.Reader(ctx, f)))
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
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	capBytes := limit(fi.Size())
	err = atomicfile.WriteFile(out, 0o644, func(w io.Writer) error {
		n, err := io.Copy(w, io.LimitReader(ctxio.Reader(ctx, zr), capBytes+1))
		if err == nil && n > capBytes {
			return fmt.Errorf("it expands to more than %d bytes (the limit against gzip bombs: %d times its compressed size, at least 1 GiB); decompress it yourself (gunzip) and use the .tar", capBytes, archiveRatio)
		}
		return err
	}, nil)
	if err != nil {
		return "", fmt.Errorf("decompressing: %w", err)
	}
	return out, nil
}
