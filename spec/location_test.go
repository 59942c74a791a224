package spec

import (
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const testDigest = "sha256:4a1e1f1a9c3a8f2c7f4d5e6b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708"

func TestParseLocation(t *testing.T) {
	h, _ := v1.NewHash(testDigest)
	tests := []struct {
		in      string
		want    Location
		ref     bool // a registry reference
		wantErr string
	}{
		{in: "scratch", want: Location{Kind: LocationScratch}},
		{in: "oci:out", want: Location{Kind: LocationLayout, Dir: "out"}},
		{in: "oci:./out:v1", want: Location{Kind: LocationLayout, Dir: "./out", Tag: "v1"}},
		{in: "oci:/abs/dir/x:latest", want: Location{Kind: LocationLayout, Dir: "/abs/dir/x", Tag: "latest"}},
		{in: "oci:a:b/dir", want: Location{Kind: LocationLayout, Dir: "a:b/dir"}},
		{in: "oci:out@" + testDigest, want: Location{Kind: LocationLayout, Dir: "out", Digest: h}},
		{in: "docker-archive:img.tar", want: Location{Kind: LocationArchive, File: "img.tar"}},
		{in: "docker-archive:dir/img.tar.gz", want: Location{Kind: LocationArchive, File: "dir/img.tar.gz"}},
		{in: "docker-archive:img.TGZ", want: Location{Kind: LocationArchive, File: "img.TGZ"}},
		{in: "nginx:1.27-alpine", ref: true},
		{in: "nginx", ref: true},
		{in: "ghcr.io/acme/app:v1", ref: true},
		{in: "127.0.0.1:5000/a/b@" + testDigest, ref: true},
		{in: "nginx:1.27@" + testDigest, ref: true},
		{in: "", wantErr: `empty; want a registry reference, "scratch", "oci:DIR[:tag|@digest]" or "docker-archive:FILE"`},
		{in: "r.example/a/../b:v1", wantErr: `"r.example/a/../b:v1": not a valid image reference: repository "a/../b" has a ".." path component; name the repository without . or .. segments`},
		{in: "oci:", wantErr: `"oci:": missing layout directory; want oci:DIR[:tag|@digest]`},
		{in: "oci::v1", wantErr: `"oci::v1": missing layout directory; want oci:DIR[:tag|@digest]`},
		{in: "oci:out:", wantErr: `"oci:out:": empty tag after ':'`},
		{in: "oci:out@sha256:zz", wantErr: `"oci:out@sha256:zz": bad digest "sha256:zz": `},
		{in: "docker-archive:", wantErr: `"docker-archive:": missing file; want docker-archive:FILE.tar or docker-archive:FILE.tar.gz`},
		{in: "docker-archive:img.zip", wantErr: `"docker-archive:img.zip": docker archive must end in .tar, .tar.gz or .tgz`},
		{in: "foo@sha256:zz", wantErr: `"foo@sha256:zz": not a valid image reference: `},
		{in: "UPPER/case:1", wantErr: `"UPPER/case:1": not a valid image reference: `},
		{in: "a:b:c", wantErr: `"a:b:c": not a valid image reference: `},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLocation(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ParseLocation(%q) error = %v, want prefix %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLocation(%q): %v", tt.in, err)
			}
			if tt.ref {
				if got.Kind != LocationRegistry || got.Ref == nil {
					t.Fatalf("ParseLocation(%q) = %+v, want a registry reference", tt.in, got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLocation(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestFullName checks the explicit base name recorded in the
// org.opencontainers.image.base.name annotation.
func TestFullName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"nginx:1.27-alpine", "docker.io/library/nginx:1.27-alpine"},
		{"nginx", "docker.io/library/nginx:latest"},
		{"ghcr.io/acme/app:v1", "ghcr.io/acme/app:v1"},
		{"127.0.0.1:5000/a/b@" + testDigest, "127.0.0.1:5000/a/b@" + testDigest},
		{"nginx:1.27@" + testDigest, "docker.io/library/nginx:1.27@" + testDigest},
	} {
		l, err := ParseLocation(tt.in)
		if err != nil || l.Kind != LocationRegistry {
			t.Fatalf("ParseLocation(%q) = %+v, %v", tt.in, l, err)
		}
		if n := FullName(l.Ref); n != tt.want {
			t.Errorf("FullName(%q) = %q, want %q", tt.in, n, tt.want)
		}
	}
}
