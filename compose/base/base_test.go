package base

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

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// TestResolveParseErrors checks that a location the grammar refuses is a
// base error quoting it.
func TestResolveParseErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"oci:", `base "oci:": missing layout directory; want oci:DIR[:tag|@digest]`},
		{"docker-archive:img.zip", `base "docker-archive:img.zip": docker archive must end in .tar, .tar.gz or .tgz`},
		{"a:b:c", `base "a:b:c": not a valid image reference: `},
	} {
		_, err := Resolve(context.Background(), tt.in, nil, t.TempDir(), Options{})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Resolve(%q) error = %v, want prefix %q", tt.in, err, tt.want)
		}
	}
}

func TestBaseScratch(t *testing.T) {
	o := resolver{cacheDir: t.TempDir()}
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
	rb, err = resolveBase(context.Background(), "scratch", []spec.Platform{fixture.Platform(t, "linux/arm64"), fixture.Platform(t, "linux/arm/v7")}, o)
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
	single = fixture.Image(t, fixture.Platform(t, "linux/amd64"), 1, true)
	multi = fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"))
	if err := oci.WriteLayout(context.Background(), dir, oci.Artifact{Image: single}, []string{"single"}, oci.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := oci.WriteLayout(context.Background(), dir, oci.Artifact{Index: multi}, []string{"multi"}, oci.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return single, multi
}

func TestBaseLayout(t *testing.T) {
	dir := t.TempDir()
	single, multi := writeTestLayout(t, dir)
	sd, _ := single.Digest()
	im, _ := multi.IndexManifest()
	o := resolver{cacheDir: t.TempDir()}
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
	fixture.ReadAllLayers(t, rb.Platforms[0].Image)

	rb, err = resolveBase(ctx, "oci:"+dir+"@"+sd.String(), []spec.Platform{fixture.Platform(t, "linux/amd64")}, o)
	if err != nil || rb.Platforms[0].Digest != sd {
		t.Fatalf("oci:@digest = %+v, %v", rb, err)
	}

	rb, err = resolveBase(ctx, "oci:"+dir+":multi", []spec.Platform{fixture.Platform(t, "linux/arm64")}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.Platforms) != 1 || rb.Platforms[0].Digest != im.Manifests[1].Digest {
		t.Fatalf("oci:multi arm64 = %+v, want %s", rb.Platforms, im.Manifests[1].Digest)
	}
	fixture.ReadAllLayers(t, rb.Platforms[0].Image)

	for _, tt := range []struct{ base, err string }{
		{"oci:" + dir, "index.json lists 2 images; name one with oci:DIR:tag or oci:DIR@digest (tags: multi, single)"},
		{"oci:" + dir + ":nope", `oci layout ` + dir + `: no image tagged "nope" (tags: multi, single)`},
		// A ref name with "/" and ":" (repo:tag, as several specs write a
		// shared layout): the message names the layout directory.
		{"oci:" + dir + ":registry.example/app:v9", `oci layout ` + dir + `: no image tagged "registry.example/app:v9" (tags: multi, single)`},
		{"oci:" + dir + "@" + testDigest, "no image with digest " + testDigest + " in index.json"},
		{"oci:" + filepath.Join(dir, "missing"), "no index.json (not an OCI image layout)"},
		{"oci:" + dir + ":single", "platform linux/arm64 not available: the base is a single-platform image for linux/amd64"},
		{"oci:" + dir + ":multi", "platform linux/arm64 not available: the base has linux/amd64, linux/arm64"},
	} {
		want := []spec.Platform{fixture.Platform(t, "linux/arm64")}
		if strings.HasSuffix(tt.base, ":multi") {
			want = []spec.Platform{fixture.Platform(t, "linux/s390x")}
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
	img := fixture.Image(t, fixture.Platform(t, "linux/arm64"), 7, false)
	tarPath := filepath.Join(dir, "img.tar")
	tag, _ := name.NewTag("example.com/app:v1")
	if err := oci.WriteTarball(context.Background(), tarPath, oci.Artifact{Image: img}, []name.Tag{tag}, oci.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	gzPath := filepath.Join(dir, "img.tar.gz")
	fixture.GzipFile(t, tarPath, gzPath)
	tgzPath := filepath.Join(dir, "img.tgz")
	if err := os.Link(gzPath, tgzPath); err != nil {
		t.Fatal(err)
	}
	wantDigest, _ := img.Digest()
	wantLayers := fixture.LayerDigests(t, img)
	cache := t.TempDir()
	o := resolver{cacheDir: cache}
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
		if got := fixture.LayerDigests(t, pb.Image); !reflect.DeepEqual(got, wantLayers) {
			t.Errorf("%s: layers %v, want %v", p, got, wantLayers)
		}
		fixture.ReadAllLayers(t, pb.Image)
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
	_, err = resolveBase(context.Background(), "docker-archive:"+tarPath, []spec.Platform{fixture.Platform(t, "linux/amd64")}, o)
	if err == nil || !strings.Contains(err.Error(), "platform linux/amd64 not available: the base is a single-platform image for linux/arm64") {
		t.Errorf("wrong platform: %v", err)
	}
}
