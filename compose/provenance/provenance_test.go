package provenance_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/strata-build/strata/compose/provenance"
)

func input() provenance.Input {
	return provenance.Input{
		Subjects: []provenance.Subject{
			{Name: "registry.example/app@linux/arm64", Digest: "sha256:" + strings.Repeat("b", 64)},
			{Name: "registry.example/app", Digest: "sha256:" + strings.Repeat("a", 64)},
		},
		SpecPath: "image.yaml", SpecDigest: "sha256:" + strings.Repeat("c", 64),
		Bases: []provenance.Dependency{
			{Name: "debian:12@linux/arm64", URI: "debian:12", Digest: "sha256:" + strings.Repeat("e", 64)},
			{Name: "debian:12@linux/amd64", URI: "debian:12", Digest: "sha256:" + strings.Repeat("d", 64)},
		},
		Archives: []provenance.Dependency{{Name: "dist/app.tar.gz", URI: "dist/app.tar.gz", Digest: "sha256:" + strings.Repeat("f", 64)}},
		Version:  "v1.2.3",
		Source:   provenance.Source{URI: "git+https://example.com/org/app", Revision: "0123456789abcdef"},
	}
}

// TestStatement: the statement is an in-toto v1 statement with a SLSA v1
// predicate holding every input, sorted, and the same bytes every time
// whatever the order of the inputs.
func TestStatement(t *testing.T) {
	a, err := provenance.Statement(input())
	if err != nil {
		t.Fatal(err)
	}
	in := input()
	in.Subjects[0], in.Subjects[1] = in.Subjects[1], in.Subjects[0]
	in.Bases[0], in.Bases[1] = in.Bases[1], in.Bases[0]
	b, err := provenance.Statement(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("input order changed the statement:\n%s\n%s", a, b)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			BuildDefinition struct {
				BuildType          string `json:"buildType"`
				ExternalParameters struct {
					Spec   struct{ Digest map[string]string }
					Source struct {
						URI    string
						Digest map[string]string
					}
				} `json:"externalParameters"`
				ResolvedDependencies []struct {
					Name   string            `json:"name"`
					Digest map[string]string `json:"digest"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder struct {
					ID      string            `json:"id"`
					Version map[string]string `json:"version"`
				} `json:"builder"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(a, &st); err != nil {
		t.Fatal(err)
	}
	bd := st.Predicate.BuildDefinition
	switch {
	case st.Type != "https://in-toto.io/Statement/v1", st.PredicateType != "https://slsa.dev/provenance/v1":
		t.Errorf("types %q %q", st.Type, st.PredicateType)
	case len(st.Subject) != 2 || st.Subject[0].Name != "registry.example/app" || st.Subject[0].Digest["sha256"] != strings.Repeat("a", 64):
		t.Errorf("subjects %+v", st.Subject)
	case bd.ExternalParameters.Spec.Digest["sha256"] != strings.Repeat("c", 64):
		t.Errorf("spec digest %+v", bd.ExternalParameters.Spec)
	case bd.ExternalParameters.Source.URI != "git+https://example.com/org/app" || bd.ExternalParameters.Source.Digest["gitCommit"] != "0123456789abcdef":
		t.Errorf("source %+v", bd.ExternalParameters.Source)
	case len(bd.ResolvedDependencies) != 3 || bd.ResolvedDependencies[0].Name != "debian:12@linux/amd64" || bd.ResolvedDependencies[2].Digest["sha256"] != strings.Repeat("f", 64):
		t.Errorf("dependencies %+v", bd.ResolvedDependencies)
	case st.Predicate.RunDetails.Builder.Version["strata"] != "v1.2.3":
		t.Errorf("builder %+v", st.Predicate.RunDetails.Builder)
	}
	if bytes.Contains(a, []byte("startedOn")) || bytes.Contains(a, []byte("finishedOn")) {
		t.Error("the statement holds a time stamp")
	}
}

func TestStatementErrors(t *testing.T) {
	if _, err := provenance.Statement(provenance.Input{}); err == nil {
		t.Error("no subject: no error")
	}
	in := input()
	in.Bases[0].Digest = "nocolon"
	if _, err := provenance.Statement(in); err == nil || !strings.Contains(err.Error(), "ALG:HEX") {
		t.Errorf("bad digest: %v", err)
	}
}
