package diff_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/diff"
	"github.com/strata-build/strata/compose/oci"
)

// ent is one tar entry of a hand-made layer.
type ent struct {
	h    tar.Header
	body string
}

func file(name, body string, mode int64) ent {
	return ent{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body)), ModTime: time.Unix(100, 0)}, body}
}

func layerOf(t *testing.T, ents ...ent) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := e.h
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(100, 0)
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf makes a linux image of arch with the layers (named in history)
// and env.
func imageOf(t *testing.T, arch string, env []string, layers map[string]v1.Layer, order ...string) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, n := range order {
		var err error
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layers[n], History: v1.History{CreatedBy: "strata: layer " + n}}); err != nil {
			t.Fatal(err)
		}
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Env = env
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func indexOf(t *testing.T, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, img := range imgs {
		cf, _ := img.ConfigFile()
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture}}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

// TestEntryChanges: every kind of entry difference, as text.
func TestEntryChanges(t *testing.T) {
	base := layerOf(t, file("etc/os", "debian\n", 0o644))
	a := layerOf(t,
		file("app/content", "one\n", 0o644),
		file("app/mode", "x\n", 0o644),
		ent{h: tar.Header{Name: "app/owner", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 0, Gid: 0}},
		ent{h: tar.Header{Name: "app/link", Typeflag: tar.TypeSymlink, Linkname: "a", Mode: 0o777}},
		file("app/type", "f\n", 0o644),
		ent{h: tar.Header{Name: "app/mtime", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(1, 0)}},
		file("app/removed", "r\n", 0o644),
		ent{h: tar.Header{Name: "etc/.wh.undeleted", Typeflag: tar.TypeReg}},
	)
	b := layerOf(t,
		file("app/added", "new\n", 0o644),
		file("app/content", "two\n", 0o644),
		file("app/mode", "x\n", 0o755),
		ent{h: tar.Header{Name: "app/owner", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 101, Gid: 102}},
		ent{h: tar.Header{Name: "app/link", Typeflag: tar.TypeSymlink, Linkname: "b", Mode: 0o777}},
		ent{h: tar.Header{Name: "app/type/", Typeflag: tar.TypeDir, Mode: 0o644}},
		ent{h: tar.Header{Name: "app/mtime", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(2, 0)}},
		ent{h: tar.Header{Name: "etc/.wh.os", Typeflag: tar.TypeReg}},
		ent{h: tar.Header{Name: "var/.wh..wh..opq", Typeflag: tar.TypeReg}},
	)
	ia := imageOf(t, "amd64", []string{"A=1"}, map[string]v1.Layer{"os": base, "app": a}, "os", "app")
	ib := imageOf(t, "amd64", []string{"A=2", "B=1"}, map[string]v1.Layer{"os": base, "app": b}, "os", "app")
	rep, err := diff.Images(context.Background(), oci.Artifact{Image: ia}, oci.Artifact{Image: ib})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	// Digests vary with the hand-made layers; the rest is exact.
	got := hexRE.ReplaceAllString(out.String(), "sha256:…")
	want := `11 files changed in layer 2 "app"; config: env.A, env.B
platform linux/amd64: sha256:… -> sha256:…
  config env.A: 1 -> 2
  config env.B: (unset) -> 1
  layer 1 "os": same sha256:…
  layer 2 "app": changed sha256:… -> sha256:…
    added /app/added
    changed /app/content
      content: sha256:… -> sha256:…
    changed /app/link
      link: a -> b
    changed /app/mode
      mode: 0644 -> 0755
    changed /app/mtime
      mtime: 1 -> 2
    changed /app/owner
      owner: 0:0 -> 101:102
    removed /app/removed
    changed /app/type
      type: file -> dir
      content: sha256:… -> (unset)
    deleted /etc/os
    undeleted /etc/undeleted
    cleared /var
`
	if got != want {
		t.Errorf("WriteText =\n%s\nwant\n%s", got, want)
	}
}

// TestPlatforms: indexes are compared platform by platform; platforms on
// one side only are named.
func TestPlatforms(t *testing.T) {
	l1 := layerOf(t, file("bin/app", "v1\n", 0o755))
	l2 := layerOf(t, file("bin/app", "v2\n", 0o755))
	amdA := imageOf(t, "amd64", nil, map[string]v1.Layer{"app": l1}, "app")
	armA := imageOf(t, "arm64", nil, map[string]v1.Layer{"app": l1}, "app")
	armB := imageOf(t, "arm64", nil, map[string]v1.Layer{"app": l2}, "app")
	riscB := imageOf(t, "riscv64", nil, map[string]v1.Layer{"app": l1}, "app")
	ctx := context.Background()
	rep, err := diff.Images(ctx, oci.Artifact{Index: indexOf(t, amdA, armA)}, oci.Artifact{Index: indexOf(t, amdA, armB, riscB)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Same || len(rep.Platforms) != 1 || rep.Platforms[0].Platform != "linux/arm64" {
		t.Fatalf("report %+v: want one differing platform, linux/arm64", rep)
	}
	if want := `platform linux/riscv64 only in B; linux/arm64: 1 file changed in layer 1 "app"`; rep.Summary() != want {
		t.Errorf("summary %q, want %q", rep.Summary(), want)
	}
	same, err := diff.Images(ctx, oci.Artifact{Index: indexOf(t, amdA, armA)}, oci.Artifact{Index: indexOf(t, amdA, armA)})
	if err != nil {
		t.Fatal(err)
	}
	if !same.Same || !strings.HasPrefix(same.Summary(), "same: sha256:") {
		t.Errorf("identical indexes: %+v", same)
	}
}

var hexRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
