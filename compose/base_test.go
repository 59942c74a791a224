package compose

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/strata-build/strata/spec"
)

const testDigest = "sha256:4a1e1f1a9c3a8f2c7f4d5e6b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708"

func TestBaseParse(t *testing.T) {
	h, _ := v1.NewHash(testDigest)
	tests := []struct {
		in      string
		want    baseRef
		name    string // baseName for registry refs
		wantErr string
	}{
		{in: "scratch", want: baseRef{kind: baseScratch}},
		{in: "oci:out", want: baseRef{kind: baseLayout, dir: "out"}},
		{in: "oci:./out:v1", want: baseRef{kind: baseLayout, dir: "./out", tag: "v1"}},
		{in: "oci:/abs/dir/x:latest", want: baseRef{kind: baseLayout, dir: "/abs/dir/x", tag: "latest"}},
		{in: "oci:a:b/dir", want: baseRef{kind: baseLayout, dir: "a:b/dir"}},
		{in: "oci:out@" + testDigest, want: baseRef{kind: baseLayout, dir: "out", dgst: h}},
		{in: "docker-archive:img.tar", want: baseRef{kind: baseArchive, file: "img.tar"}},
		{in: "docker-archive:dir/img.tar.gz", want: baseRef{kind: baseArchive, file: "dir/img.tar.gz"}},
		{in: "docker-archive:img.TGZ", want: baseRef{kind: baseArchive, file: "img.TGZ"}},
		{in: "nginx:1.27-alpine", name: "docker.io/library/nginx:1.27-alpine"},
		{in: "nginx", name: "docker.io/library/nginx:latest"},
		{in: "ghcr.io/acme/app:v1", name: "ghcr.io/acme/app:v1"},
		{in: "127.0.0.1:5000/a/b@" + testDigest, name: "127.0.0.1:5000/a/b@" + testDigest},
		{in: "nginx:1.27@" + testDigest, name: "docker.io/library/nginx:1.27@" + testDigest},
		{in: "", wantErr: `base: empty; want a registry reference, "scratch", "oci:DIR[:tag|@digest]" or "docker-archive:FILE"`},
		{in: "oci:", wantErr: `base "oci:": missing layout directory; want oci:DIR[:tag|@digest]`},
		{in: "oci::v1", wantErr: `base "oci::v1": missing layout directory; want oci:DIR[:tag|@digest]`},
		{in: "oci:out:", wantErr: `base "oci:out:": empty tag after ':'`},
		{in: "oci:out@sha256:zz", wantErr: `base "oci:out@sha256:zz": bad digest "sha256:zz": `},
		{in: "docker-archive:", wantErr: `base "docker-archive:": missing file; want docker-archive:FILE.tar or docker-archive:FILE.tar.gz`},
		{in: "docker-archive:img.zip", wantErr: `base "docker-archive:img.zip": docker archive must end in .tar, .tar.gz or .tgz`},
		{in: "foo@sha256:zz", wantErr: `base "foo@sha256:zz": not a valid image reference: `},
		{in: "UPPER/case:1", wantErr: `base "UPPER/case:1": not a valid image reference: `},
		{in: "a:b:c", wantErr: `base "a:b:c": not a valid image reference: `},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseBase(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("parseBase(%q) error = %v, want prefix %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBase(%q): %v", tt.in, err)
			}
			if tt.name != "" {
				if got.kind != baseRegistry {
					t.Fatalf("kind = %v, want registry", got.kind)
				}
				if n := baseName(got.ref); n != tt.name {
					t.Errorf("baseName = %q, want %q", n, tt.name)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseBase(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestBaseScratch(t *testing.T) {
	o, err := makeOptions(WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := resolveBase(context.Background(), "scratch", nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Name != "" || rb.Repo != nil || len(rb.Platforms) != 1 {
		t.Fatalf("scratch = %+v", rb)
	}
	if p := rb.Platforms[0]; p.Platform.String() != "linux/amd64" || p.Image != empty.Image || p.Digest != (v1.Hash{}) {
		t.Errorf("scratch platform = %+v", p)
	}
	rb, err = resolveBase(context.Background(), "scratch", []spec.Platform{plat(t, "linux/arm64"), plat(t, "linux/arm/v7")}, o)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rb.Platforms {
		got = append(got, p.Platform.String())
		if p.Image != empty.Image {
			t.Errorf("%s: not empty.Image", p.Platform)
		}
	}
	if strings.Join(got, " ") != "linux/arm64 linux/arm/v7" {
		t.Errorf("platforms = %v", got)
	}
}

// writeTestLayout writes a layout holding an amd64 image tagged "single" and
// an index tagged "multi" (amd64, arm64).
func writeTestLayout(t *testing.T, dir string) (single v1.Image, multi v1.ImageIndex) {
	t.Helper()
	single = testImage(t, plat(t, "linux/amd64"), 1, true)
	multi = testIndex(t, plat(t, "linux/amd64"), plat(t, "linux/arm64"))
	if err := writeLayout(context.Background(), dir, Artifact{Image: single}, "single"); err != nil {
		t.Fatal(err)
	}
	if err := writeLayout(context.Background(), dir, Artifact{Index: multi}, "multi"); err != nil {
		t.Fatal(err)
	}
	return single, multi
}

func TestBaseLayout(t *testing.T) {
	dir := t.TempDir()
	single, multi := writeTestLayout(t, dir)
	sd, _ := single.Digest()
	im, _ := multi.IndexManifest()
	o, err := makeOptions(WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	rb, err := resolveBase(ctx, "oci:"+dir+":single", nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Name != "" || rb.Repo != nil || len(rb.Platforms) != 1 || rb.Platforms[0].Digest != sd || rb.Platforms[0].Platform.String() != "linux/amd64" {
		t.Fatalf("oci:single = %+v", rb)
	}
	if d, _ := rb.Platforms[0].Image.Digest(); d != sd {
		t.Errorf("image digest %s, want %s", d, sd)
	}
	readAllLayers(t, rb.Platforms[0].Image)

	rb, err = resolveBase(ctx, "oci:"+dir+"@"+sd.String(), []spec.Platform{plat(t, "linux/amd64")}, o)
	if err != nil || rb.Platforms[0].Digest != sd {
		t.Fatalf("oci:@digest = %+v, %v", rb, err)
	}

	rb, err = resolveBase(ctx, "oci:"+dir+":multi", []spec.Platform{plat(t, "linux/arm64")}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.Platforms) != 1 || rb.Platforms[0].Digest != im.Manifests[1].Digest {
		t.Fatalf("oci:multi arm64 = %+v, want %s", rb.Platforms, im.Manifests[1].Digest)
	}
	readAllLayers(t, rb.Platforms[0].Image)

	for _, tt := range []struct{ base, err string }{
		{"oci:" + dir, "index.json lists 2 images; name one with oci:DIR:tag or oci:DIR@digest (tags: multi, single)"},
		{"oci:" + dir + ":nope", `no image tagged "nope" (tags: multi, single)`},
		{"oci:" + dir + "@" + testDigest, "no image with digest " + testDigest + " in index.json"},
		{"oci:" + filepath.Join(dir, "missing"), "no index.json (not an OCI image layout)"},
		{"oci:" + dir + ":single", "platform linux/arm64 not available: the base is a single-platform image for linux/amd64"},
		{"oci:" + dir + ":multi", "platform linux/arm64 not available: the base has linux/amd64, linux/arm64"},
	} {
		want := []spec.Platform{plat(t, "linux/arm64")}
		if strings.HasSuffix(tt.base, ":multi") {
			want = []spec.Platform{plat(t, "linux/s390x")}
			tt.err = strings.Replace(tt.err, "platform linux/arm64", "platform linux/s390x", 1)
		}
		_, err := resolveBase(ctx, tt.base, want, o)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("resolveBase(%q) error = %v, want it to contain %q", tt.base, err, tt.err)
		}
	}
}

func TestBaseDockerArchive(t *testing.T) {
	dir := t.TempDir()
	img := testImage(t, plat(t, "linux/arm64"), 7, false)
	tarPath := filepath.Join(dir, "img.tar")
	tag, _ := name.NewTag("example.com/app:v1")
	if err := writeTarball(context.Background(), tarPath, Artifact{Image: img}, []name.Tag{tag}); err != nil {
		t.Fatal(err)
	}
	gzPath := filepath.Join(dir, "img.tar.gz")
	gzipFile(t, tarPath, gzPath)
	tgzPath := filepath.Join(dir, "img.tgz")
	if err := os.Link(gzPath, tgzPath); err != nil {
		t.Fatal(err)
	}
	wantDigest, _ := img.Digest()
	wantLayers := layerDigests(t, img)
	cache := t.TempDir()
	o, err := makeOptions(WithCacheDir(cache))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{tarPath, gzPath, tgzPath} {
		rb, err := resolveBase(context.Background(), "docker-archive:"+p, nil, o)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(rb.Platforms) != 1 || rb.Platforms[0].Platform.String() != "linux/arm64" || rb.Name != "" || rb.Repo != nil {
			t.Fatalf("%s: %+v", p, rb)
		}
		pb := rb.Platforms[0]
		if pb.Digest != wantDigest {
			t.Errorf("%s: digest %s, want %s", p, pb.Digest, wantDigest)
		}
		if got := layerDigests(t, pb.Image); !reflect.DeepEqual(got, wantLayers) {
			t.Errorf("%s: layers %v, want %v", p, got, wantLayers)
		}
		readAllLayers(t, pb.Image)
	}
	// Both gzip names hold the same bytes: one decompressed copy in the cache.
	ents, err := os.ReadDir(filepath.Join(cache, "archives"))
	if err != nil || len(ents) != 1 {
		t.Errorf("cache archives = %v, %v; want one file", ents, err)
	}

	_, err = resolveBase(context.Background(), "docker-archive:"+filepath.Join(dir, "nope.tar"), nil, o)
	if want := "docker archive " + filepath.Join(dir, "nope.tar") + ": no such file"; err == nil || err.Error() != want {
		t.Errorf("missing file: %v, want %q", err, want)
	}
	_, err = resolveBase(context.Background(), "docker-archive:"+tarPath, []spec.Platform{plat(t, "linux/amd64")}, o)
	if err == nil || !strings.Contains(err.Error(), "platform linux/amd64 not available: the base is a single-platform image for linux/arm64") {
		t.Errorf("wrong platform: %v", err)
	}
}

// layerDigests lists img's layer digests.
func layerDigests(t testing.TB, img v1.Image) []v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestBaseRelativeTo(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"oci:out:v1", "oci:/spec/dir/out:v1"},
		{"oci:./a/../out@" + testDigest, "oci:/spec/dir/out@" + testDigest},
		{"oci:/abs/out", "oci:/abs/out"},
		{"docker-archive:img.tar.gz", "docker-archive:/spec/dir/img.tar.gz"},
		{"docker-archive:/abs/img.tar", "docker-archive:/abs/img.tar"},
		{"oci:", "oci:"},
		{"scratch", "scratch"},
		{"nginx:1.27", "nginx:1.27"},
	} {
		if got := baseRelativeTo(tt.in, "/spec/dir"); got != tt.want {
			t.Errorf("baseRelativeTo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
