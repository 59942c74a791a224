package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/provenance"
	"github.com/strata-build/strata/compose/sbom"
)

// TestAttachmentsMultiPlatform: an index gets one SBOM per platform image
// (subject: that image) and one provenance statement (subject: the index,
// naming every platform image and base); the index's digest is what it was
// without them, and building again gives the same documents.
func TestAttachmentsMultiPlatform(t *testing.T) {
	s := multiPlatformSpec(t)
	idx := testBaseIndex(t, amd64, armv7, arm64)
	var docs [][]byte
	for range 2 {
		res, err := Build(context.Background(), s, t.TempDir(), WithBaseResolver(resolverFor(s.Base, nil, idx)))
		if err != nil {
			t.Fatal(err)
		}
		before := res.Digest
		atts, err := Attachments(context.Background(), res, AttachOptions{SBOM: true, Provenance: true, Version: "v0.0.0-test", Name: "registry.example/app"})
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
			all = append(all, a.Document)
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
		if err := json.Unmarshal(atts[0].Document, &st); err != nil {
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
