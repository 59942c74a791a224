package spec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"cuelang.org/go/encoding/jsonschema"
)

// JSONSchema returns a JSON Schema (draft 2020-12) generated from the CUE
// schema, indented, with a trailing newline. Editors use it to check YAML
// specs (yaml-language-server's $schema comment). Constraints that only
// Validate checks (target paths, references, tags) are not in it.
func JSONSchema() ([]byte, error) {
	c := compiledSchema()
	c.mu.Lock()
	defer c.mu.Unlock()
	expr, err := jsonschema.Generate(c.def, nil)
	if err != nil {
		return nil, fmt.Errorf("generating JSON Schema: %w", err)
	}
	v := c.ctx.BuildExpr(expr)
	raw, err := v.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("generating JSON Schema: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("generating JSON Schema: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
