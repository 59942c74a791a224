package compose

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

func TestArchiveAsIs(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    spec.Spec
		ok   bool
	}{
		{"bare archive", spec.Spec{Base: "docker-archive:/x/a.tar"}, true},
		{"archive with tags", spec.Spec{Base: "docker-archive:/x/a.tar.gz", Image: "r/a", Tags: []string{"v1"}, Semver: "1.0.0"}, true},
		{"a layer", spec.Spec{Base: "docker-archive:/x/a.tar", Layers: []spec.Layer{{Name: "x"}}}, false},
		{"config", spec.Spec{Base: "docker-archive:/x/a.tar", Config: spec.Config{User: "1"}}, false},
		{"empty entrypoint set", spec.Spec{Base: "docker-archive:/x/a.tar", Config: spec.Config{Entrypoint: []string{}}}, false},
		{"annotations", spec.Spec{Base: "docker-archive:/x/a.tar", Annotations: map[string]string{"a": "b"}}, false},
		{"platforms", spec.Spec{Base: "docker-archive:/x/a.tar", Platforms: []string{"linux/amd64"}}, false},
		{"oci base", spec.Spec{Base: "oci:/x/lay"}, false},
		{"registry base", spec.Spec{Base: "r.example/a:1"}, false},
	} {
		// The archive does not exist: a spec that qualifies fails to read
		// it, one that does not is left to the normal build.
		_, ok, err := archiveAsIs(context.Background(), &tc.s, t.TempDir())
		if ok != tc.ok || ok != (err != nil) {
			t.Errorf("%s: ok %v, err %v; want ok %v", tc.name, ok, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "reading "+tc.s.Base+": no such file") {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

// TestLayoutRefsEveryTag: a layout records every tag, not only the first
// (issue 8, point 7).
func TestLayoutRefsEveryTag(t *testing.T) {
	s := &spec.Spec{Image: "registry.local:5000/demo/app", Tags: []string{"latest", "v1", "ghcr.io/acme/app:v1", "ghcr.io/acme/app:edge"}}
	if got, want := strings.Join(LayoutRefs(s), " "), "latest v1 edge"; got != want {
		t.Errorf("LayoutRefs = %q, want %q", got, want)
	}
	if got, want := strings.Join(StoreRefs(s), " "), "registry.local:5000/demo/app:latest registry.local:5000/demo/app:v1 ghcr.io/acme/app:v1 ghcr.io/acme/app:edge"; got != want {
		t.Errorf("StoreRefs = %q, want %q", got, want)
	}
	if got := LayoutRefs(&spec.Spec{}); len(got) != 1 || got[0] != "latest" {
		t.Errorf("LayoutRefs(no tags) = %q, want [latest]", got)
	}
}

func TestLayoutRefAndTarballRefs(t *testing.T) {
	for _, tt := range []struct {
		image string
		tags  []string
		ref   string
		store string
		refs  []string
	}{
		{"", nil, "latest", "latest", nil},
		{"registry.local:5000/demo/app", nil, "latest", "registry.local:5000/demo/app:latest", nil},
		{"", []string{"v1", "ghcr.io/acme/app:edge"}, "v1", "v1", []string{"ghcr.io/acme/app:edge"}},
		{"registry.local:5000/demo/app", []string{"v1", "ghcr.io/acme/app:edge"}, "v1", "registry.local:5000/demo/app:v1", []string{"registry.local:5000/demo/app:v1", "ghcr.io/acme/app:edge"}},
		{"registry.local:5000/demo/app", []string{"registry.local:5000/other:2.0"}, "2.0", "registry.local:5000/other:2.0", []string{"registry.local:5000/other:2.0"}},
	} {
		s := &spec.Spec{Image: tt.image, Tags: tt.tags}
		if got := StoreRef(s); got != tt.store {
			t.Errorf("StoreRef(%q, %v) = %q, want %q", tt.image, tt.tags, got, tt.store)
		}
		if got := LayoutRef(s); got != tt.ref {
			t.Errorf("LayoutRef(%v) = %q, want %q", tt.tags, got, tt.ref)
		}
		refs, err := TarballRefs(s)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range refs {
			got = append(got, r.String())
		}
		if strings.Join(got, " ") != strings.Join(tt.refs, " ") {
			t.Errorf("TarballRefs(%q, %v) = %v, want %v", tt.image, tt.tags, got, tt.refs)
		}
	}
}

// TestArchiveAsIsBuild: with WithArchiveAsIs, a spec that only names a
// docker archive builds to the archive's own image, byte for byte (what a
// push then publishes); without it the image is composed as usual.
func TestArchiveAsIsBuild(t *testing.T) {
	dir := t.TempDir()
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 11, false)
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "img.tar")
	if err := oci.WriteTarball(context.Background(), tarPath, oci.Artifact{Image: img}, nil, oci.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	s := &spec.Spec{Base: spec.ArchivePrefix + tarPath, Context: dir}
	res, err := Build(context.Background(), s, t.TempDir(), WithArchiveAsIs())
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != want || res.Artifact.Image == nil {
		t.Errorf("as is: digest %s, want the archive's %s", res.Digest, want)
	}
	composed, err := Build(context.Background(), s, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if composed.Digest == want {
		t.Errorf("without WithArchiveAsIs the image was not composed (digest %s)", composed.Digest)
	}
}

// TestOutputsFor: one spec in its own layout is recorded under each bare
// tag; several specs, or the shared store, under repo:tag names; two
// images that would share a name in one layout are refused before
// anything is written.
func TestOutputsFor(t *testing.T) {
	a := &Result{Spec: &spec.Spec{Image: "r.example/a", Tags: []string{"v1", "latest"}}}
	b := &Result{Spec: &spec.Spec{Image: "r.example/b", Tags: []string{"v1"}}}
	outs, err := OutputsFor([]*Result{a}, []string{"a.yaml"}, Targets{LayoutDir: "/l", Jobs: 3})
	if err != nil || len(outs) != 1 || strings.Join(outs[0].LayoutRefs, " ") != "v1 latest" || outs[0].Jobs != 3 {
		t.Errorf("one spec: %+v, %v", outs, err)
	}
	outs, err = OutputsFor([]*Result{a}, []string{"a.yaml"}, Targets{LayoutDir: "/store", Shared: true})
	if err != nil || strings.Join(outs[0].LayoutRefs, " ") != "r.example/a:v1 r.example/a:latest" {
		t.Errorf("shared store: %+v, %v", outs, err)
	}
	outs, err = OutputsFor([]*Result{a, b}, []string{"a.yaml", "b.yaml"}, Targets{LayoutDir: "/l"})
	if err != nil || outs[1].LayoutRefs[0] != "r.example/b:v1" {
		t.Errorf("two specs: %+v, %v", outs, err)
	}
	_, err = OutputsFor([]*Result{a, a}, []string{"a.yaml", "a2.yaml"}, Targets{LayoutDir: "/l"})
	var ce *OutputConflictError
	if !errors.As(err, &ce) || err.Error() != `a.yaml and a2.yaml would both be written as "r.example/a:v1" in /l; give them different tags or image repositories` {
		t.Errorf("conflict: %v", err)
	}
}

// TestBaseLayers: a built image's base layers are those of the base, in
// order, without the layers strata added; scratch lends none.
func TestBaseLayers(t *testing.T) {
	reg := fixture.NewRegistry(t)
	nginx := nginxBase(t, nil)
	reg.Push(t, "lib/nginx:1", nginx)
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"a.txt": "a\n"})
	layers := []spec.Layer{{Files: []spec.File{add("/srv/a.txt")}}}
	res, err := Build(context.Background(), &spec.Spec{Base: reg.Host + "/lib/nginx:1", Context: ctxDir, Layers: layers}, t.TempDir(), WithRemote(remote.WithTransport(reg.Transport)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := res.BaseLayers()
	if err != nil {
		t.Fatal(err)
	}
	if want := fixture.LayerDigests(t, nginx); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("base layers %v, want the base's %v", got, want)
	}
	scratch, err := Build(context.Background(), &spec.Spec{Base: "scratch", Context: ctxDir, Layers: layers}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := scratch.BaseLayers(); err != nil || len(got) != 0 {
		t.Errorf("scratch: base layers %v, %v; want none", got, err)
	}
}
