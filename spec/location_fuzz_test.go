package spec

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzParseLocation checks that ParseLocation never panics, that an accepted
// layout or archive location round-trips through its parts, and that an
// accepted registry reference's full name parses to the same repository
// and tag or digest.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{
		"scratch", "nginx", "nginx:1.27-alpine", "ghcr.io/a/b:v1", "127.0.0.1:5000/x@" + testDigest,
		"nginx:1.27@" + testDigest, "oci:out", "oci:./out:v1", "oci:a:b/c", "oci:out@" + testDigest,
		"oci:", "oci::x", "oci:out@sha256:zz", "docker-archive:x.tar", "docker-archive:x.tgz",
		"docker-archive:x.zip", "foo@sha256:zz", "a:b:c", "UPPER", "", ":", "@", "oci:@", "oci:/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseLocation(s)
		if err != nil {
			if s != "" && !strings.HasPrefix(err.Error(), strconv.Quote(s)) {
				t.Fatalf("error does not quote the location: %v", err)
			}
			return
		}
		switch b.Kind {
		case LocationLayout:
			if b.Dir == "" {
				t.Fatalf("%q: empty dir accepted", s)
			}
			re := LayoutPrefix + b.Dir
			if b.Tag != "" {
				re += ":" + b.Tag
			}
			if b.Digest.Hex != "" {
				re += "@" + b.Digest.String()
			}
			if re != s {
				t.Fatalf("%q: parts rebuild %q", s, re)
			}
		case LocationArchive:
			if !isArchiveName(b.File) || ArchivePrefix+b.File != s {
				t.Fatalf("%q: bad archive %q", s, b.File)
			}
		case LocationRegistry:
			n := FullName(b.Ref)
			ref, err := name.ParseReference(n)
			if err != nil {
				t.Fatalf("%q: name %q does not parse: %v", s, n, err)
			}
			if ref.Context().Name() != b.Ref.Context().Name() || ref.Identifier() != b.Ref.Identifier() {
				t.Fatalf("%q: name %q names %s@%s, want %s@%s", s, n, ref.Context(), ref.Identifier(), b.Ref.Context(), b.Ref.Identifier())
			}
		}
	})
}
