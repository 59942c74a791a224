package oci

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/strata-build/strata/internal/fixture"
)

func TestOutputLayoutSkopeoUmoci(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 60, true)
	idx := fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"))
	if err := writeLayout(ctx, dir, Artifact{Image: img}, "app"); err != nil {
		t.Fatal(err)
	}
	if err := writeLayout(ctx, dir, Artifact{Index: idx}, "multi"); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	var insp struct {
		Digest       string
		Architecture string
		Os           string
		Layers       []string
	}
	if err := json.Unmarshal([]byte(run(t, "skopeo", "inspect", "oci:"+dir+":app")), &insp); err != nil {
		t.Fatal(err)
	}
	if insp.Digest != want.String() || insp.Os != "linux" || insp.Architecture != "amd64" {
		t.Errorf("skopeo inspect = %+v, want digest %s linux/amd64", insp, want)
	}
	if got := strings.Join(insp.Layers, " "); got != strings.Join(hashStrings(fixture.LayerDigests(t, img)), " ") {
		t.Errorf("skopeo layers %s", got)
	}
	raw := run(t, "skopeo", "inspect", "--raw", "oci:"+dir+":app")
	if h, _, _ := v1.SHA256(strings.NewReader(raw)); h != want {
		t.Errorf("skopeo inspect --raw hashes to %s, want %s", h, want)
	}

	// skopeo re-hashes every blob while copying.
	other := filepath.Join(t.TempDir(), "other")
	run(t, "skopeo", "copy", "--preserve-digests", "oci:"+dir+":app", "oci:"+other+":app")
	if got := layoutRefs(t, other); got["app"] != want {
		t.Errorf("copied app = %s, want %s", got["app"], want)
	}
	idxDigest, _ := idx.Digest()
	run(t, "skopeo", "copy", "--all", "--preserve-digests", "oci:"+dir+":multi", "oci:"+other+":multi")
	if got := layoutRefs(t, other); got["multi"] != idxDigest {
		t.Errorf("copied multi = %s, want %s", got["multi"], idxDigest)
	}

	// umoci applies the layers like a runtime.
	bundle := filepath.Join(t.TempDir(), "bundle")
	args := []string{"unpack"}
	if os.Getuid() != 0 {
		args = append(args, "--rootless")
	}
	args = append(args, "--image", dir+":app", bundle)
	run(t, "umoci", args...)
	files, _ := filepath.Glob(filepath.Join(bundle, "rootfs", "random_file_*.txt"))
	if len(files) != 2 {
		t.Errorf("unpacked rootfs has %v, want one file per layer", files)
	}
}

func TestOutputTarballSkopeo(t *testing.T) {
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 61, true)
	p := filepath.Join(t.TempDir(), "img.tar")
	tag, _ := name.NewTag("example.com/app:v1")
	if err := writeTarball(context.Background(), p, Artifact{Image: img}, []name.Tag{tag}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	run(t, "skopeo", "copy", "docker-archive:"+p, "oci:"+out+":x")
	// skopeo stores the layers its own way; their uncompressed contents
	// must be ours.
	copied, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := copied.IndexManifest()
	back, err := copied.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := back.Layers()
	var got []string
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.String())
	}
	cfg, _ := img.ConfigFile()
	if want := hashStrings(cfg.RootFS.DiffIDs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("copied layers have diff IDs %v, want %v", got, want)
	}
}

func hashStrings(hs []v1.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}
