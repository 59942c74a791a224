package compose

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/strata-build/strata/spec"
)

// platformBase is the base for one platform.
type platformBase struct {
	Platform spec.Platform
	Image    v1.Image // layers and config served from the on-disk cache once fetched
	Digest   v1.Hash  // manifest digest of this platform's base image; zero for scratch
}

// resolvedBase is a spec's base narrowed to the wanted platforms.
type resolvedBase struct {
	// Name is for the org.opencontainers.image.base.name annotation: the
	// reference as written, with registry defaults made explicit (e.g.
	// docker.io/library/nginx:1.27-alpine). It is "" for scratch and for local
	// bases (oci:, docker-archive:), whose paths must not leak into images.
	Name string
	// Platforms are in the order of want; when want is empty: every platform
	// of the base in index order, linux/amd64 for scratch.
	Platforms []platformBase
	// Repo is the registry repository of a registry base (push mounts base
	// blobs from it); nil otherwise.
	Repo *name.Repository
}

// baseKind tells the forms a spec's base can take apart.
type baseKind int

const (
	baseRegistry baseKind = iota // a registry reference by tag or digest
	baseScratch                  // "scratch": no layers
	baseLayout                   // "oci:DIR[:tag|@digest]"
	baseArchive                  // "docker-archive:FILE" (.tar, .tar.gz, .tgz)
)

// baseRef is a parsed base string.
type baseRef struct {
	kind baseKind
	ref  name.Reference // baseRegistry
	dir  string         // baseLayout: the layout directory
	tag  string         // baseLayout: matched against org.opencontainers.image.ref.name
	dgst v1.Hash        // baseLayout: manifest digest, when pinned with @
	file string         // baseArchive
}

// Prefixes of the local base forms.
const (
	ociPrefix     = "oci:"
	archivePrefix = "docker-archive:"
)

// parseBase parses a spec's base string without touching the disk or the
// network.
func parseBase(s string) (baseRef, error) {
	switch {
	case s == "":
		return baseRef{}, errors.New(`base: empty; want a registry reference, "scratch", "oci:DIR[:tag|@digest]" or "docker-archive:FILE"`)
	case s == "scratch":
		return baseRef{kind: baseScratch}, nil
	case strings.HasPrefix(s, ociPrefix):
		return parseLayoutBase(s)
	case strings.HasPrefix(s, archivePrefix):
		file := strings.TrimPrefix(s, archivePrefix)
		if file == "" {
			return baseRef{}, fmt.Errorf("base %q: missing file; want docker-archive:FILE.tar or docker-archive:FILE.tar.gz", s)
		}
		if !isArchiveName(file) {
			return baseRef{}, fmt.Errorf("base %q: docker archive must end in .tar, .tar.gz or .tgz", s)
		}
		return baseRef{kind: baseArchive, file: file}, nil
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return baseRef{}, fmt.Errorf("base %q: not a valid image reference: %v", s, err)
	}
	// The explicit name (docker.io/library/…) goes into annotations, so it
	// must be a valid reference too (it is longer: repository limits bite).
	if _, err := name.ParseReference(baseName(ref)); err != nil {
		return baseRef{}, fmt.Errorf("base %q: not a valid image reference once the registry is made explicit: %v", s, err)
	}
	return baseRef{kind: baseRegistry, ref: ref}, nil
}

// parseLayoutBase parses "oci:DIR[:tag|@digest]". A ":" only starts a tag
// when it comes after the last "/", so directories may contain colons only
// in parent components.
func parseLayoutBase(s string) (baseRef, error) {
	rest := strings.TrimPrefix(s, ociPrefix)
	b := baseRef{kind: baseLayout, dir: rest}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		h, err := v1.NewHash(rest[i+1:])
		if err != nil {
			return baseRef{}, fmt.Errorf("base %q: bad digest %q: %v", s, rest[i+1:], err)
		}
		b.dir, b.dgst = rest[:i], h
	} else if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		b.dir, b.tag = rest[:i], rest[i+1:]
		if b.tag == "" {
			return baseRef{}, fmt.Errorf("base %q: empty tag after ':'", s)
		}
	}
	if b.dir == "" {
		return baseRef{}, fmt.Errorf("base %q: missing layout directory; want oci:DIR[:tag|@digest]", s)
	}
	return b, nil
}

// isArchiveName reports whether file has a docker archive extension.
func isArchiveName(file string) bool {
	f := strings.ToLower(filepath.Base(file))
	return strings.HasSuffix(f, ".tar") || strings.HasSuffix(f, ".tar.gz") || strings.HasSuffix(f, ".tgz")
}

// resolveBase resolves base (a spec's base string) and narrows it to want.
// Errors do not repeat the base string (callers wrap them with it); paths of
// local bases are used as given (see baseRelativeTo).
// Registry bases go to o.baseResolver when it is set, else to the registry
// through o.remote, with manifests and blobs cached under o.cacheDir.
//
// Network use for registry bases: a base pinned by digest whose manifests and
// configs are cached needs no request at all. A tag needs one HEAD request
// (plus a GET when the manifest it names is not cached). When the registry
// cannot be reached, a tag falls back to its last cached resolution with a
// warning. ctx governs resolution only. Layer blobs are fetched lazily, once,
// on their first Compressed() call, after resolveBase has returned; those
// requests use o.remote as given (so the context passed with
// WithRemote(remote.WithContext(…)), if any), never ctx, which may be a
// finished errgroup's by then.
func resolveBase(ctx context.Context, base string, want []spec.Platform, o *options) (*resolvedBase, error) {
	b, err := parseBase(base)
	if err != nil {
		return nil, err
	}
	switch b.kind {
	case baseScratch:
		return resolveScratch(want), nil
	case baseLayout:
		return resolveLayout(b, want)
	case baseArchive:
		return resolveArchive(ctx, b, want, o)
	}
	return resolveRegistry(ctx, base, b.ref, want, o)
}

// baseRelativeTo returns base with the path of a local base (oci:,
// docker-archive:) made absolute against dir, the spec file's directory, so
// local bases are found wherever strata runs. Other bases are returned as
// they are.
func baseRelativeTo(base, dir string) string {
	for _, prefix := range []string{ociPrefix, archivePrefix} {
		if rest, ok := strings.CutPrefix(base, prefix); ok && rest != "" && !filepath.IsAbs(rest) {
			return prefix + filepath.Join(dir, rest)
		}
	}
	return base
}

// resolveScratch returns an empty image per wanted platform.
func resolveScratch(want []spec.Platform) *resolvedBase {
	if len(want) == 0 {
		want = []spec.Platform{{OS: "linux", Architecture: "amd64"}}
	}
	rb := &resolvedBase{}
	for _, p := range want {
		rb.Platforms = append(rb.Platforms, platformBase{Platform: p, Image: empty.Image})
	}
	return rb
}

// baseName returns ref as written with the registry made explicit; Docker
// Hub is spelled docker.io, as docker and containerd write it.
func baseName(ref name.Reference) string {
	reg := ref.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	s := reg + "/" + ref.Context().RepositoryStr()
	switch r := ref.(type) {
	case name.Tag:
		s += ":" + r.TagStr()
	case name.Digest:
		// A "repo:tag@sha256:…" reference keeps its tag for readers.
		if i := strings.LastIndex(r.String(), "@"); i >= 0 {
			if t, err := name.NewTag(r.String()[:i]); err == nil && strings.Contains(r.String()[:i], ":"+t.TagStr()) {
				s += ":" + t.TagStr()
			}
		}
		s += "@" + r.DigestStr()
	}
	return s
}
