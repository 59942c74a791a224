package discover

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree writes files (path → content) below a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSpecs(t *testing.T) {
	const cueSpec = "package api\n\nimport (\n\t\"example.com/t\"\n)\n\nt.#S & {#name: \"api\"}\n"
	const cueTemplate = "// templates\npackage t\n\n#S: {\n\tbase: \"scratch\"\n}\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"none", map[string]string{"README.md": "x"}, nil},
		{"root and nested, stable order", map[string]string{
			"image.yaml": "", "b/image.yaml": "", "a/z/image.yml": "", "a/image.cue": "", "a-b/image.yaml": "",
		}, []string{"a-b/image.yaml", "a/image.cue", "a/z/image.yml", "b/image.yaml", "image.yaml"}},
		{"one spec per directory, yaml first", map[string]string{
			"s/image.yaml": "", "s/image.yml": "", "s/image.cue": "", "t/image.yml": "", "t/image.cue": "",
		}, []string{"s/image.yaml", "t/image.yml"}},
		{"skipped directories", map[string]string{
			".git/image.yaml": "", "node_modules/x/image.yaml": "", "a/vendor/image.yaml": "",
			"cue.mod/pkg/image.cue": "", "a/image.yaml": "",
		}, []string{"a/image.yaml"}},
		{"ignore file at the root", map[string]string{
			".strataignore": "# old\nlegacy/\n**/skip.d\na/image.yaml\n", "legacy/image.yaml": "", "x/skip.d/image.yaml": "",
			"a/image.yaml": "", "a/image.yml": "", "keep/image.yaml": "",
		}, []string{"a/image.yml", "keep/image.yaml"}},
		{"CUE package spec, template skipped", map[string]string{
			"svc/api/main.cue": cueSpec, "templates/service.cue": cueTemplate, "notes/other.txt": "",
		}, []string{"svc/api"}},
		{"CUE package with a field", map[string]string{"w/spec.cue": "package w\nbase: \"scratch\"\n"}, []string{"w"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			got, err := Specs(root)
			if err != nil {
				t.Fatal(err)
			}
			var rel []string
			for _, g := range got {
				r, err := filepath.Rel(root, g)
				if err != nil {
					t.Fatal(err)
				}
				rel = append(rel, filepath.ToSlash(r))
			}
			if !slices.Equal(rel, tc.want) {
				t.Errorf("Specs = %q, want %q", rel, tc.want)
			}
		})
	}
}

func TestSpecsRelativeRoot(t *testing.T) {
	root := tree(t, map[string]string{"svc/a/image.yaml": "", "svc/b/image.yaml": ""})
	t.Chdir(root)
	got, err := Specs("svc")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"svc/a/image.yaml", "svc/b/image.yaml"}; !slices.Equal(got, want) {
		t.Errorf("Specs(svc) = %q, want %q", got, want)
	}
	got, err = Specs(".")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"svc/a/image.yaml", "svc/b/image.yaml"}; !slices.Equal(got, want) {
		t.Errorf("Specs(.) = %q, want %q", got, want)
	}
}

func TestSpecsErrors(t *testing.T) {
	root := tree(t, map[string]string{"f": "", ".strataignore": "[\n"})
	if _, err := Specs(filepath.Join(root, "f")); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("Specs(file) error = %v", err)
	}
	if _, err := Specs(filepath.Join(root, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Specs(missing) error = %v", err)
	}
	if _, err := Specs(root); err == nil || !strings.HasPrefix(err.Error(), ".strataignore: ") {
		t.Errorf("Specs(bad ignore) error = %v", err)
	}
}
