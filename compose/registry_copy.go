package compose

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// refNameAnnotation names an image in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Location is a parsed copy source or destination.
type Location struct {
	// Kind is "registry", "oci" or "docker-archive".
	Kind string
	// Ref is set for registry locations.
	Ref name.Reference
	// Path is the layout directory or archive file.
	Path string
	// Tag is the ref name in an OCI layout (may be empty), or a digest
	// ("sha256:…") when the oci: location used @.
	Tag string
}

// String formats the location as it would be typed.
func (l Location) String() string {
	switch l.Kind {
	case "registry":
		return l.Ref.Name()
	case "oci":
		if strings.HasPrefix(l.Tag, "sha256:") {
			return "oci:" + l.Path + "@" + l.Tag
		}
		if l.Tag != "" {
			return "oci:" + l.Path + ":" + l.Tag
		}
		return "oci:" + l.Path
	}
	return "docker-archive:" + l.Path
}

// ParseLocation parses "oci:DIR[:tag|@digest]", "docker-archive:FILE" (.tar,
// .tar.gz or .tgz) or a registry reference, using cfg for registry names.
func ParseLocation(s string, cfg TransportConfig) (Location, error) {
	switch {
	case strings.HasPrefix(s, "oci:"):
		rest := strings.TrimPrefix(s, "oci:")
		l := Location{Kind: "oci", Path: rest}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			if _, err := v1.NewHash(rest[i+1:]); err != nil {
				return Location{}, fmt.Errorf("%s: bad digest: %w", s, err)
			}
			l.Path, l.Tag = rest[:i], rest[i+1:]
		} else if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
			l.Path, l.Tag = rest[:i], rest[i+1:]
			if !tagPattern.MatchString(l.Tag) {
				return Location{}, fmt.Errorf("%s: %q is not a valid tag", s, l.Tag)
			}
		}
		if l.Path == "" {
			return Location{}, fmt.Errorf("%s: want oci:DIR[:tag]", s)
		}
		return l, nil
	case strings.HasPrefix(s, "docker-archive:"):
		p := strings.TrimPrefix(s, "docker-archive:")
		if p == "" {
			return Location{}, fmt.Errorf("%s: want docker-archive:FILE", s)
		}
		return Location{Kind: "docker-archive", Path: p}, nil
	}
	ref, err := cfg.ParseReference(s)
	if err != nil {
		return Location{}, fmt.Errorf("%s: %w", s, err)
	}
	return Location{Kind: "registry", Ref: ref}, nil
}

// ReadArtifact opens the image or index a location names. ropts are used for
// registry locations.
func ReadArtifact(ctx context.Context, l Location, ropts ...remote.Option) (Artifact, error) {
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
		return readLayout(l)
	case "docker-archive":
		return readDockerArchive(l.Path)
	}
	return Artifact{}, fmt.Errorf("unknown location kind %q", l.Kind)
}

func readLayout(l Location) (Artifact, error) {
	idx, err := layout.ImageIndexFromPath(l.Path)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading %s: %w", l, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return Artifact{}, fmt.Errorf("reading %s: %w", l, err)
	}
	var found []v1.Descriptor
	var names []string
	for _, d := range im.Manifests {
		n := d.Annotations[refNameAnnotation]
		if n != "" {
			names = append(names, n)
		}
		switch {
		case strings.HasPrefix(l.Tag, "sha256:") && d.Digest.String() == l.Tag,
			!strings.HasPrefix(l.Tag, "sha256:") && l.Tag != "" && n == l.Tag,
			l.Tag == "":
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0:
		return Artifact{}, fmt.Errorf("reading %s: no such image in the layout (it has: %s)", l, strings.Join(names, ", "))
	case len(found) > 1:
		return Artifact{}, fmt.Errorf("reading %s: the layout holds %d images; name one with oci:%s:TAG (it has: %s)", l, len(found), l.Path, strings.Join(names, ", "))
	}
	d := found[0]
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		return Artifact{Index: child}, err
	}
	img, err := idx.Image(d.Digest)
	return Artifact{Image: img}, err
}

// readDockerArchive reads a docker-save archive, gzip-compressed or not. An
// archive must hold exactly one image.
func readDockerArchive(path string) (Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading docker-archive:%s: %w", path, err)
	}
	magic := make([]byte, 2)
	_, err = io.ReadFull(f, magic)
	f.Close()
	if err != nil {
		return Artifact{}, fmt.Errorf("reading docker-archive:%s: %w", path, err)
	}
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	if magic[0] == 0x1f && magic[1] == 0x8b {
		opener = func() (io.ReadCloser, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			zr, err := gzip.NewReader(f)
			if err != nil {
				f.Close()
				return nil, err
			}
			return readCloser{zr, f}, nil
		}
	}
	img, err := tarball.Image(opener, nil)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading docker-archive:%s: %w", path, err)
	}
	// Fail here, not in the middle of a push, if the archive is broken.
	if _, err := img.Manifest(); err != nil {
		return Artifact{}, fmt.Errorf("reading docker-archive:%s: %w", path, err)
	}
	return Artifact{Image: img}, nil
}

type readCloser struct {
	io.Reader
	f *os.File
}

func (r readCloser) Close() error { return r.f.Close() }

// CopyResult reports a copy.
type CopyResult struct {
	Digest string      `json:"digest"`
	Push   *PushReport `json:"push,omitempty"`
}

// Copy copies the image or index at src to dst. A registry destination must
// name a tag; it is pushed like Push does (blobs first, tag last), mounting
// blobs from a registry source on the same registry. An oci: destination is
// created if needed and the image is stored under the given ref name
// (replacing an image of that name).
func Copy(ctx context.Context, src, dst Location, ropts []remote.Option, popts ...PushOption) (*CopyResult, error) {
	art, err := ReadArtifact(ctx, src, ropts...)
	if err != nil {
		return nil, err
	}
	h, err := art.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", src, err)
	}
	res := &CopyResult{Digest: h.String()}
	switch dst.Kind {
	case "registry":
		tag, ok := dst.Ref.(name.Tag)
		if !ok {
			return nil, fmt.Errorf("copying to %s: the destination must be a tag", dst)
		}
		req := PushRequest{Artifact: art, Tags: []name.Tag{tag}}
		if src.Kind == "registry" {
			req.MountFrom = []name.Repository{src.Ref.Context()}
		}
		rep, err := Push(ctx, []PushRequest{req}, popts...)
		res.Push = rep
		if err != nil {
			return res, fmt.Errorf("copying to %s: %w", dst, err)
		}
		return res, nil
	case "oci":
		if strings.HasPrefix(dst.Tag, "sha256:") {
			return nil, fmt.Errorf("copying to %s: name the destination with :TAG, not a digest", dst)
		}
		if err := writeLayout(dst, art); err != nil {
			return nil, fmt.Errorf("copying to %s: %w", dst, err)
		}
		return res, nil
	}
	return nil, fmt.Errorf("copying to %s: can only copy to a registry or an oci: layout", dst)
}

// writeLayout stores art in the layout at l.Path under l.Tag.
func writeLayout(l Location, art Artifact) error {
	p, err := layout.FromPath(l.Path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if p, err = layout.Write(l.Path, empty.Index); err != nil {
			return err
		}
	}
	var opts []layout.Option
	matcher := func(v1.Descriptor) bool { return false }
	if l.Tag != "" {
		ann := map[string]string{refNameAnnotation: l.Tag}
		opts = append(opts, layout.WithAnnotations(ann))
		matcher = match.Annotation(refNameAnnotation, l.Tag)
	}
	if art.Index != nil {
		return p.ReplaceIndex(art.Index, matcher, opts...)
	}
	if mt, err := art.Image.MediaType(); err == nil && mt == types.DockerManifestSchema1 {
		return errors.New("docker schema 1 images are not supported")
	}
	return p.ReplaceImage(art.Image, matcher, opts...)
}
