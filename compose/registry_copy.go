package compose

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/strata-build/strata/spec"
)

// Location is a parsed copy source or destination: a registry reference,
// "oci:DIR[:tag|@digest]" or "docker-archive:FILE". The forms and their
// parsing are those of a spec's base.
type Location struct {
	// Kind is "registry", "oci" or "docker-archive".
	Kind string
	// Ref is set for registry locations.
	Ref name.Reference

	raw string
	b   baseRef
}

// String returns the location as it was written.
func (l Location) String() string { return l.raw }

// ParseLocation parses a copy source or destination, using cfg for registry
// names (insecure registries).
func ParseLocation(s string, cfg TransportConfig) (Location, error) {
	if s == "scratch" {
		return Location{}, errors.New(`"scratch" is not an image location`)
	}
	b, err := parseBase(s)
	if err != nil {
		return Location{}, errors.New(strings.Replace(err.Error(), "base ", "", 1))
	}
	l := Location{raw: s, b: b}
	switch b.kind {
	case baseLayout:
		l.Kind = "oci"
		if b.tag != "" && !tagPattern.MatchString(b.tag) {
			return Location{}, fmt.Errorf("%s: %q is not a valid tag", s, b.tag)
		}
	case baseArchive:
		l.Kind = "docker-archive"
	default:
		l.Kind = "registry"
		if l.Ref, err = cfg.ParseReference(s); err != nil {
			return Location{}, fmt.Errorf("%s: %w", s, err)
		}
	}
	return l, nil
}

// ReadArtifact opens the image or index a location names, unchanged (an
// index is not narrowed to platforms). ropts are used for registry
// locations; cacheDir holds the decompressed copy of a gzip docker archive.
func ReadArtifact(ctx context.Context, l Location, cacheDir string, ropts ...remote.Option) (Artifact, error) {
	switch l.Kind {
	case "registry":
		desc, err := remote.Get(l.Ref, append(ropts, remote.WithContext(ctx))...)
		if err != nil {
			return Artifact{}, fmt.Errorf("reading %s: %w", l, err)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			return Artifact{Index: idx}, err
		}
		img, err := desc.Image()
		return Artifact{Image: img}, err
	case "oci":
		return readLayoutArtifact(l)
	case "docker-archive":
		path, err := archiveTarPath(ctx, l.b.file, cacheDir)
		if err != nil {
			return Artifact{}, fmt.Errorf("reading %s: %w", l, err)
		}
		img, err := tarball.ImageFromPath(path, nil)
		if err == nil {
			_, err = img.Manifest() // fail here, not in the middle of a push
		}
		if err != nil {
			return Artifact{}, fmt.Errorf("reading %s: %w", l, err)
		}
		return Artifact{Image: img}, nil
	}
	return Artifact{}, fmt.Errorf("unknown location kind %q", l.Kind)
}

func readLayoutArtifact(l Location) (Artifact, error) {
	l.b = l.b.splitLayoutRef()
	if _, err := os.Stat(filepath.Join(l.b.dir, "index.json")); errors.Is(err, fs.ErrNotExist) {
		return Artifact{}, fmt.Errorf("reading %s: no index.json (not an OCI image layout)", l)
	}
	idx, err := layout.ImageIndexFromPath(l.b.dir)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading %s: %w", l, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return Artifact{}, fmt.Errorf("reading %s: %w", l, err)
	}
	d, err := pickLayoutEntry(im.Manifests, l.b)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading %s: %w", l, err)
	}
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		return Artifact{Index: child}, err
	}
	img, err := idx.Image(d.Digest)
	return Artifact{Image: img}, err
}

// CopyResult reports a copy.
type CopyResult struct {
	Digest string      `json:"digest"`
	Push   *PushReport `json:"push,omitempty"`
}

// Copy copies the image or index at src to dst, keeping its digest. A
// registry destination must name a tag; it is pushed like Push does (blobs
// first, tag last), mounting blobs from a registry source on the same
// registry. An oci: destination is written atomically under its tag
// ("latest" if none), replacing an image of that name. cacheDir holds the
// decompressed copy of a gzip docker archive (a temporary directory, removed
// afterwards, if empty).
func Copy(ctx context.Context, src, dst Location, cacheDir string, ropts []remote.Option, popts ...PushOption) (*CopyResult, error) {
	switch {
	case dst.Kind == "registry":
		if _, ok := dst.Ref.(name.Tag); !ok {
			return nil, fmt.Errorf("copying to %s: the destination must be a tag", dst)
		}
	case dst.Kind == "oci":
		if dst.b.dgst.Hex != "" {
			return nil, fmt.Errorf("copying to %s: name the destination with :TAG, not a digest", dst)
		}
	default:
		return nil, fmt.Errorf("copying to %s: can only copy to a registry or an oci: layout", dst)
	}
	if cacheDir == "" {
		tmp, err := os.MkdirTemp("", "strata-copy-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		cacheDir = tmp
	}
	art, err := ReadArtifact(ctx, src, cacheDir, ropts...)
	if err != nil {
		return nil, err
	}
	h, err := art.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	res := &CopyResult{Digest: h.String()}
	if dst.Kind == "oci" {
		ref := dst.b.tag
		if ref == "" {
			ref = "latest"
		}
		if err := writeLayout(ctx, dst.b.dir, art, ref); err != nil {
			return nil, fmt.Errorf("copying to %s: %w", dst, err)
		}
		return res, nil
	}
	req := PushRequest{Artifact: art, Tags: []name.Tag{dst.Ref.(name.Tag)}}
	if src.Kind == "registry" {
		req.MountFrom = []name.Repository{src.Ref.Context()}
	}
	rep, err := Push(ctx, []PushRequest{req}, popts...)
	res.Push = rep
	if err != nil {
		return res, fmt.Errorf("copying to %s: %w", dst, err)
	}
	return res, nil
}

// ArchiveAsIs reports whether s is a docker archive base with nothing added
// (no layers, config, annotations or platforms): such a spec is pushed as
// the archive's image, byte for byte, rather than recomposed. It returns the
// archive's location, relative paths resolved against the spec's directory.
func ArchiveAsIs(s *spec.Spec) (Location, bool) {
	file, ok := strings.CutPrefix(s.Base, archivePrefix)
	if !ok || len(s.Layers) > 0 || len(s.Annotations) > 0 || len(s.Platforms) > 0 || !reflect.ValueOf(s.Config).IsZero() {
		return Location{}, false
	}
	if src := s.Source(); src != nil && !filepath.IsAbs(file) {
		file = filepath.Join(src.Dir, file)
	}
	l, err := ParseLocation(archivePrefix+file, TransportConfig{})
	if err != nil {
		return Location{}, false
	}
	return l, true
}
