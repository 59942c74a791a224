package strata_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMESchemaHints: the README's yaml-language-server hints point at
// the checked-in JSON Schema: the relative paths resolve from the files
// they are written for, and the URL is the raw URL of schema/image.schema.json
// in the repository go.mod names (issue 8 point 14).
func TestREADMESchemaHints(t *testing.T) {
	const schemaFile = "schema/image.schema.json"
	if _, err := os.Stat(schemaFile); err != nil {
		t.Fatal(err)
	}
	readme := read(t, "README.md")
	gomod := read(t, "go.mod")
	m := regexp.MustCompile(`(?m)^module github\.com/([^/\s]+)/([^/\s]+)$`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod: module path is not github.com/OWNER/REPO")
	}
	wantURL := "https://raw.githubusercontent.com/" + m[1] + "/" + m[2] + "/main/" + schemaFile
	hints := regexp.MustCompile(`\$schema=(\S+?)\x60`).FindAllStringSubmatch(readme, -1)
	if len(hints) == 0 {
		t.Fatal("README has no $schema= hint")
	}
	sawURL := false
	for _, h := range hints {
		v := h[1]
		switch {
		case strings.Contains(v, "…") || strings.Contains(v, "..."):
			t.Errorf("placeholder schema hint %q", v)
		case strings.HasPrefix(v, "https://"):
			if v != wantURL {
				t.Errorf("schema URL %q, want %q", v, wantURL)
			}
			sawURL = true
		case v == "./"+schemaFile:
			// Relative to a spec at the root of a checkout.
		case v == "../../"+schemaFile:
			// Relative to examples/static-site/image.yaml.
			if _, err := os.Stat(filepath.Join("examples/static-site", v)); err != nil {
				t.Errorf("hint %q: %v", v, err)
			}
		default:
			t.Errorf("unexpected schema hint %q", v)
		}
	}
	if !sawURL {
		t.Errorf("README gives no URL for the schema; want %s", wantURL)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
