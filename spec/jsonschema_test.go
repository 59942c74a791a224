package spec

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const jsonSchemaFile = "../schema/image.schema.json"

// TestJSONSchemaInSync keeps schema/image.schema.json equal to what
// JSONSchema generates from the CUE schema (-update rewrites it).
func TestJSONSchemaInSync(t *testing.T) {
	got, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(jsonSchemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(jsonSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with schema/image.cue; run go test ./spec -run TestJSONSchemaInSync -update", jsonSchemaFile)
	}
}

func compileJSONSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(jsonSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("image.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("image.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// jsonInstance round-trips v through JSON into the validator's value form.
func jsonInstance(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// TestExamplesMatchJSONSchema validates every example against the JSON
// Schema: YAML files as written, CUE specs as loaded.
func TestExamplesMatchJSONSchema(t *testing.T) {
	sch := compileJSONSchema(t)
	for _, p := range exampleSpecs(t) {
		var v any
		if strings.HasSuffix(strings.TrimSuffix(p, ".example"), ".cue") {
			s, err := Load(p, LoadOptions{})
			if err != nil {
				t.Fatalf("Load(%s): %v", p, err)
			}
			v = s
		} else {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(data, &v); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		if err := sch.Validate(jsonInstance(t, v)); err != nil {
			t.Errorf("%s does not match %s: %v", p, jsonSchemaFile, err)
		}
	}
}

// TestJSONSchemaRejects checks that the JSON Schema carries the schema's
// constraints, so editors flag what strata would reject.
func TestJSONSchemaRejects(t *testing.T) {
	sch := compileJSONSchema(t)
	bad := []string{
		`{}`,
		`{"base": "scratch", "bogus": 1}`,
		`{"base": "scratch", "layers": [{"files": [{"src": "a", "dest": "rel"}]}]}`,
		`{"base": "scratch", "layers": [{"files": [{"src": "a", "dest": "/a", "mode": 493}]}]}`,
		`{"base": "scratch", "platforms": ["Linux"]}`,
		`{"base": "scratch", "config": {"env": {"1A": "x"}}}`,
		`{"base": "scratch", "layers": [{"x-note": "only top-level x- keys are extensions"}]}`,
	}
	good := []string{
		`{"base": "scratch"}`,
		`{"base": "scratch", "x-defaults": {"mode": "0644"}}`,
	}
	for _, doc := range good {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("JSON Schema rejects %s: %v", doc, err)
		}
	}
	for _, doc := range bad {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err == nil {
			t.Errorf("JSON Schema accepts %s", doc)
		}
	}
}
