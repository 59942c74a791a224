package spec

import (
	"encoding/json"
	"fmt"

	"cuelang.org/go/encoding/jsonschema"
)

// JSONSchema returns a JSON Schema (draft 2020-12) generated from the CUE
// schema, indented, with a trailing newline. Editors use it to check YAML
// specs (yaml-language-server's $schema comment). Constraints that only
// Validate checks (target paths, references, tags) are not in it. Keys are
// sorted; top-level x-… extension fields are allowed.
func JSONSchema() ([]byte, error) {
	c := compiledSchema()
	c.acquire()
	defer c.release()
	expr, err := jsonschema.Generate(c.def, nil)
	if err != nil {
		return nil, fmt.Errorf("generating JSON Schema: %w", err)
	}
	v := c.ctx.BuildExpr(expr)
	raw, err := v.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("generating JSON Schema: %w", err)
	}
	// Top-level x-… extension fields (see schema/image.cue) are allowed.
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("generating JSON Schema: %w", err)
	}
	doc["patternProperties"] = map[string]any{"^x-": map[string]any{}}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("generating JSON Schema: %w", err)
	}
	return append(out, '\n'), nil
}
