package spec

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LocationKind tells the forms an image location can take apart.
type LocationKind int

// The forms of an image location (a spec's base, a copy source or
// destination).
const (
	LocationRegistry LocationKind = iota // a registry reference by tag or digest
	LocationScratch                      // "scratch": no layers
	LocationLayout                       // "oci:DIR[:tag|@digest]"
	LocationArchive                      // "docker-archive:FILE" (.tar, .tar.gz, .tgz)
)

// Prefixes of the local location forms.
const (
	LayoutPrefix  = "oci:"
	ArchivePrefix = "docker-archive:"
)

// Location is a parsed image location. Parsing touches neither the disk nor
// the network.
type Location struct {
	Kind LocationKind
	// Ref is the reference of a registry location.
	Ref name.Reference
	// Dir, Tag and Digest name an image of an OCI layout: Tag is matched
	// against org.opencontainers.image.ref.name, Digest (when pinned with
	// @) against the manifest digest; both may be empty.
	Dir    string
	Tag    string
	Digest v1.Hash
	// File is a docker archive's path.
	File string
}

// ParseLocation parses an image location: a registry reference, "scratch",
// "oci:DIR[:tag|@digest]" or "docker-archive:FILE" (.tar, .tar.gz or .tgz).
// In "oci:DIR:tag" a ":" only starts a tag when it comes after the last "/",
// so directories may contain colons only in parent components. opts are
// passed to package name for registry references (e.g. name.Insecure).
//
// Errors quote s and say what is valid; they do not say what s was for
// (callers prefix "base" or "source").
func ParseLocation(s string, opts ...name.Option) (Location, error) {
	switch {
	case s == "":
		return Location{}, errors.New(`empty; want a registry reference, "scratch", "oci:DIR[:tag|@digest]" or "docker-archive:FILE"`)
	case s == "scratch":
		return Location{Kind: LocationScratch}, nil
	case strings.HasPrefix(s, LayoutPrefix):
		return parseLayoutLocation(s)
	case strings.HasPrefix(s, ArchivePrefix):
		file := strings.TrimPrefix(s, ArchivePrefix)
		if file == "" {
			return Location{}, fmt.Errorf("%q: missing file; want docker-archive:FILE.tar or docker-archive:FILE.tar.gz", s)
		}
		if !isArchiveName(file) {
			return Location{}, fmt.Errorf("%q: docker archive must end in .tar, .tar.gz or .tgz", s)
		}
		return Location{Kind: LocationArchive, File: file}, nil
	}
	ref, err := name.ParseReference(s, opts...)
	if err != nil {
		return Location{}, fmt.Errorf("%q: not a valid image reference: %v", s, err)
	}
	if err := CheckRepositoryPath(ref.Context().RepositoryStr()); err != nil {
		return Location{}, fmt.Errorf("%q: not a valid image reference: %v", s, err)
	}
	// The full name (docker.io/library/…) goes into annotations, so it must
	// be a valid reference too (it is longer: repository limits bite).
	if _, err := name.ParseReference(FullName(ref)); err != nil {
		return Location{}, fmt.Errorf("%q: not a valid image reference once the registry is made explicit: %v", s, err)
	}
	return Location{Kind: LocationRegistry, Ref: ref}, nil
}

// FullName returns ref as written with the registry made explicit; Docker
// Hub is spelled docker.io, as docker and containerd write it. A
// "repo:tag@sha256:…" reference keeps its tag for readers.
func FullName(ref name.Reference) string {
	reg := ref.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	s := reg + "/" + ref.Context().RepositoryStr()
	switch r := ref.(type) {
	case name.Tag:
		s += ":" + r.TagStr()
	case name.Digest:
		if i := strings.LastIndex(r.String(), "@"); i >= 0 {
			if t, err := name.NewTag(r.String()[:i]); err == nil && strings.Contains(r.String()[:i], ":"+t.TagStr()) {
				s += ":" + t.TagStr()
			}
		}
		s += "@" + r.DigestStr()
	}
	return s
}

// parseLayoutLocation parses "oci:DIR[:tag|@digest]".
func parseLayoutLocation(s string) (Location, error) {
	rest := strings.TrimPrefix(s, LayoutPrefix)
	l := Location{Kind: LocationLayout, Dir: rest}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		h, err := v1.NewHash(rest[i+1:])
		if err != nil {
			return Location{}, fmt.Errorf("%q: bad digest %q: %v", s, rest[i+1:], err)
		}
		l.Dir, l.Digest = rest[:i], h
	} else if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		l.Dir, l.Tag = rest[:i], rest[i+1:]
		if l.Tag == "" {
			return Location{}, fmt.Errorf("%q: empty tag after ':'", s)
		}
	}
	if l.Dir == "" {
		return Location{}, fmt.Errorf("%q: missing layout directory; want oci:DIR[:tag|@digest]", s)
	}
	return l, nil
}

// isArchiveName reports whether file has a docker archive extension.
func isArchiveName(file string) bool {
	f := strings.ToLower(filepath.Base(file))
	return strings.HasSuffix(f, ".tar") || strings.HasSuffix(f, ".tar.gz") || strings.HasSuffix(f, ".tgz")
}
