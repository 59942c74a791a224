package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMESpecReference loads the spec reference in README.md, so the
// documentation of every field stays a valid spec.
func TestREADMESpecReference(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	_, after, ok := strings.Cut(text, "## The spec (v1)")
	if !ok {
		t.Fatal(`README.md has no "## The spec (v1)" section`)
	}
	_, block, ok := strings.Cut(after, "```yaml\n")
	if !ok {
		t.Fatal("no yaml block in the spec reference")
	}
	block, _, _ = strings.Cut(block, "```")
	for _, field := range []string{"base:", "platforms:", "context:", "layers:", "name:", "delete:", "clear:", "files:", "src:", "dest:",
		"exclude:", "mode:", "owner:", "extract:", "sha256:", "optional:", "dirs:", "symlinks:", "target:", "config:", "entrypoint:",
		"cmd:", "env:", "workdir:", "user:", "labels:", "ports:", "volumes:", "stopSignal:", "annotations:", "image:", "tags:", "semver:"} {
		if !strings.Contains(block, field) {
			t.Errorf("the spec reference has no example of %s", field)
		}
	}
	p := filepath.Join(t.TempDir(), "image.yaml")
	if err := os.WriteFile(p, []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, LoadOptions{Vars: map[string]string{"VERSION": "1.4.2"}}); err != nil {
		t.Errorf("the README spec reference does not load:\n%v", err)
	}
}
