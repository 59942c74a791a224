package compose

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzParseBase checks that parseBase never panics, that an accepted layout
// base round-trips through its parts, and that an accepted registry base's
// explicit name parses to the same repository and tag or digest.
func FuzzParseBase(f *testing.F) {
	for _, s := range []string{
		"scratch", "nginx", "nginx:1.27-alpine", "ghcr.io/a/b:v1", "127.0.0.1:5000/x@" + testDigest,
		"nginx:1.27@" + testDigest, "oci:out", "oci:./out:v1", "oci:a:b/c", "oci:out@" + testDigest,
		"oci:", "oci::x", "oci:out@sha256:zz", "docker-archive:x.tar", "docker-archive:x.tgz",
		"docker-archive:x.zip", "foo@sha256:zz", "a:b:c", "UPPER", "", ":", "@", "oci:@", "oci:/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := parseBase(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "base") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		switch b.kind {
		case baseLayout:
			if b.dir == "" {
				t.Fatalf("%q: empty dir accepted", s)
			}
			re := ociPrefix + b.dir
			if b.tag != "" {
				re += ":" + b.tag
			}
			if b.dgst.Hex != "" {
				re += "@" + b.dgst.String()
			}
			if re != s {
				t.Fatalf("%q: parts rebuild %q", s, re)
			}
		case baseArchive:
			if !isArchiveName(b.file) || archivePrefix+b.file != s {
				t.Fatalf("%q: bad archive %q", s, b.file)
			}
		case baseRegistry:
			n := baseName(b.ref)
			ref, err := name.ParseReference(n)
			if err != nil {
				t.Fatalf("%q: name %q does not parse: %v", s, n, err)
			}
			if ref.Context().Name() != b.ref.Context().Name() || ref.Identifier() != b.ref.Identifier() {
				t.Fatalf("%q: name %q names %s@%s, want %s@%s", s, n, ref.Context(), ref.Identifier(), b.ref.Context(), b.ref.Identifier())
			}
		}
	})
}
