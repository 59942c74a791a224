package attach

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/provenance"
	"github.com/strata-build/strata/compose/sbom"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// TestAttachmentsMultiPlatform: an index gets one SBOM per platform image
// (subject: that image) and one provenance statement (subject: the index,
// naming every platform image and base); the index's digest is what it was
// without them, and building again gives the same documents.
func TestAttachmentsMultiPlatform(t *testing.T) {
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{
		"dist/linux_amd64/app": "amd64 binary", "dist/linux_arm64/app": "arm64 binary", "config.json": `{"a":1}`,
	})
	s := &spec.Spec{
		Base: "registry.example/base:1", Context: ctxDir, Platforms: []string{"linux/amd64", "linux/arm64"},
		Layers: []spec.Layer{
			{Name: "config", Files: []spec.File{{Src: "config.json", Dest: "/etc/app/config.json"}}},
			{Name: "app", Files: []spec.File{{Src: "dist/${TARGETOS}_${TARGETARCH}/app", Dest: "/app", Mode: "0755"}}},
		},
	}
	idx := fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"))
	resolver := func(context.Context, string) (v1.Image, v1.ImageIndex, error) { return nil, idx, nil }
	var docs [][]byte
	for range 2 {
		res, err := compose.Build(context.Background(), s, t.TempDir(), compose.WithBaseResolver(resolver))
		if err != nil {
			t.Fatal(err)
		}
		before := res.Digest
		atts, err := Make(context.Background(), res, Options{SBOM: true, Provenance: true, Version: "v0.0.0-test", Name: "registry.example/app"})
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := res.Artifact.Index.Digest(); d != before || res.Digest != before {
			t.Fatalf("the index digest changed: %s → %s", before, d)
		}
		if len(atts) != 1+len(res.Platforms) {
			t.Fatalf("%d attachments for %d platforms", len(atts), len(res.Platforms))
		}
		var all [][]byte
		for i, a := range atts {
			if err := validate.Image(a.Referrer); err != nil {
				t.Fatalf("referrer %d: %v", i, err)
			}
			m, _ := a.Referrer.Manifest()
			want := res.Digest
			if i > 0 {
				want = res.Platforms[i-1].Digest
				if a.Kind != "sbom" || a.Platform != res.Platforms[i-1].Platform.String() || m.ArtifactType != sbom.MediaTypeSPDX {
					t.Errorf("attachment %d: %s %s %s", i, a.Kind, a.Platform, m.ArtifactType)
				}
			} else if a.Kind != "provenance" || m.ArtifactType != provenance.MediaType {
				t.Errorf("attachment 0: %s %s", a.Kind, m.ArtifactType)
			}
			if m.Subject == nil || m.Subject.Digest != want || a.Subject != want {
				t.Errorf("attachment %d (%s): subject %v, want %s", i, a.Kind, m.Subject, want)
			}
			all = append(all, a.Data)
		}
		var st struct {
			Subject []struct {
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
			Predicate struct {
				BuildDefinition struct {
					ResolvedDependencies []json.RawMessage `json:"resolvedDependencies"`
				} `json:"buildDefinition"`
			} `json:"predicate"`
		}
		if err := json.Unmarshal(atts[0].Data, &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Subject) != 1+len(res.Platforms) || len(st.Predicate.BuildDefinition.ResolvedDependencies) != len(res.Platforms) {
			t.Errorf("provenance names %d subjects and %d bases for %d platforms", len(st.Subject), len(st.Predicate.BuildDefinition.ResolvedDependencies), len(res.Platforms))
		}
		docs = append(docs, bytes.Join(all, []byte{0}))
	}
	if !bytes.Equal(docs[0], docs[1]) {
		t.Error("two builds gave different documents")
	}
}
