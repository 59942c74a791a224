package oci_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/fixture"
)

// TestLayoutReferrers: a referrer written with an image is listed in
// index.json with its artifact type and no ref name, the image's entry is
// unchanged, and writing again lists it once.
func TestLayoutReferrers(t *testing.T) {
	ctx := context.Background()
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 31, true)
	d, _ := img.Digest()
	mt, _ := img.MediaType()
	size, _ := img.Size()
	ref, err := oci.NewReferrer(v1.Descriptor{MediaType: mt, Digest: d, Size: size}, "application/spdx+json",
		[]oci.Document{{MediaType: "application/spdx+json", Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(ref); err != nil {
		t.Fatalf("referrer does not validate: %v", err)
	}
	m, _ := ref.Manifest()
	if m.Subject == nil || m.Subject.Digest != d || m.ArtifactType != "application/spdx+json" || m.Config.MediaType != oci.MediaTypeEmpty {
		t.Fatalf("referrer manifest: %+v", m)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	for range 2 {
		if err := oci.WriteLayout(ctx, dir, oci.Artifact{Image: img}, []string{"v1"}, oci.WriteOptions{Referrers: []v1.Image{ref}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	rd, _ := ref.Digest()
	if len(idx.Manifests) != 2 || idx.Manifests[0].Digest != d || idx.Manifests[0].Annotations[oci.RefNameAnnotation] != "v1" ||
		idx.Manifests[1].Digest != rd || idx.Manifests[1].ArtifactType != "application/spdx+json" || idx.Manifests[1].Annotations[oci.RefNameAnnotation] != "" {
		t.Fatalf("index.json:\n%s", b)
	}
	// ggcr reads the referrer back from the layout, blobs and all.
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	back, err := p.Image(rd)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(back); err != nil {
		t.Fatalf("referrer read back from the layout: %v", err)
	}
}
