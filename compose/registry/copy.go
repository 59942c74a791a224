package registry

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/spec"
)

// Location is a parsed copy source or destination: a registry reference,
// "oci:DIR[:tag|@digest]" or "docker-archive:FILE". The forms and their
// grammar are those of a spec's base (spec.ParseLocation).
type Location struct {
	// Kind is "registry", "oci" or "docker-archive".
	Kind string
	// Ref is set for registry locations.
	Ref name.Reference

	raw string
	loc spec.Location
}

// String returns the location as it was written.
func (l Location) String() string { return l.raw }

// ParseLocation parses a copy source or destination, using cfg for registry
// names (insecure registries).
func ParseLocation(s string, cfg TransportConfig) (Location, error) {
	if s == "scratch" {
		return Location{}, errors.New(`"scratch" is not an image location`)
	}
	loc, err := spec.ParseLocation(s)
	if err != nil {
		return Location{}, err
	}
	l := Location{raw: s, loc: loc}
	switch loc.Kind {
	case spec.LocationLayout:
		l.Kind = "oci"
		if loc.Tag != "" && !spec.ValidTag(loc.Tag) {
			return Location{}, fmt.Errorf("%s: %q is not a valid tag", s, loc.Tag)
		}
	case spec.LocationArchive:
		l.Kind = "docker-archive"
	default:
		l.Kind = "registry"
		if l.Ref, err = cfg.ParseReference(s); err != nil {
			return Location{}, fmt.Errorf("%s: %w", s, err)
		}
	}
	return l, nil
}

// readArtifact opens the image or index a location names, unchanged (an
// index is not narrowed to platforms). ropts are used for registry
// locations; cacheDir holds the decompressed copy of a gzip docker archive.
func readArtifact(ctx context.Context, l Location, cacheDir string, ropts []remote.Option) (oci.Artifact, error) {
	if l.Kind != "registry" {
		a, err := oci.Read(ctx, l.loc, cacheDir)
		if err != nil {
			return oci.Artifact{}, fmt.Errorf("reading %s: %w", l, err)
		}
		return a, nil
	}
	desc, err := remote.Get(l.Ref, append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		return oci.Artifact{}, fmt.Errorf("reading %s: %w", l, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		return oci.Artifact{Index: idx}, err
	}
	img, err := desc.Image()
	return oci.Artifact{Image: img}, err
}

// CopyResult reports a copy.
type CopyResult struct {
	Digest string      `json:"digest"`
	Push   *PushReport `json:"push,omitempty"`
}

// CopyOptions are the optional settings of Copy.
type CopyOptions struct {
	// Push sets the registry access policy, the concurrency budget and the
	// progress callback, for reading a registry source and for pushing to a
	// registry destination (see Push).
	Push PushOptions
	// CacheDir holds the decompressed copy of a gzip docker archive; ""
	// means a temporary directory, removed afterwards.
	CacheDir string
}

// Copy copies the image or index at src to dst, keeping its digest. A
// registry destination must name a tag; it is pushed like Push does (blobs
// first, tag last), mounting blobs from a registry source on the same
// registry. An oci: destination is written atomically under its tag
// ("latest" if none), replacing an image of that name.
func Copy(ctx context.Context, src, dst Location, o CopyOptions) (*CopyResult, error) {
	switch {
	case dst.Kind == "registry":
		if _, ok := dst.Ref.(name.Tag); !ok {
			return nil, fmt.Errorf("copying to %s: the destination must be a tag", dst)
		}
	case dst.Kind == "oci":
		if dst.loc.Digest.Hex != "" {
			return nil, fmt.Errorf("copying to %s: name the destination with :TAG, not a digest", dst)
		}
	default:
		return nil, fmt.Errorf("copying to %s: can only copy to a registry or an oci: layout", dst)
	}
	cacheDir := o.CacheDir
	if cacheDir == "" {
		tmp, err := os.MkdirTemp("", "strata-copy-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		cacheDir = tmp
	}
	ropts, err := RemoteOptions(o.Push.Transport)
	if err != nil {
		return nil, err
	}
	art, err := readArtifact(ctx, src, cacheDir, ropts)
	if err != nil {
		return nil, err
	}
	h, err := art.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	res := &CopyResult{Digest: h.String()}
	if dst.Kind == "oci" {
		ref := dst.loc.Tag
		if ref == "" {
			ref = "latest"
		}
		if err := oci.WriteLayout(ctx, dst.loc.Dir, art, []string{ref}, oci.WriteOptions{Jobs: o.Push.Jobs}); err != nil {
			return nil, fmt.Errorf("copying to %s: %w", dst, err)
		}
		return res, nil
	}
	req := PushRequest{Artifact: art, Tags: []name.Tag{dst.Ref.(name.Tag)}}
	if src.Kind == "registry" {
		req.MountFrom = []name.Repository{src.Ref.Context()}
	}
	rep, err := Push(ctx, []PushRequest{req}, o.Push)
	res.Push = rep
	if err != nil {
		return res, fmt.Errorf("copying to %s: %w", dst, err)
	}
	return res, nil
}
