package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// TestContextRule pins which contexts a spec file may have: relative ones,
// including ones that climb out of the spec's directory (monorepos), but
// no absolute one. A Spec built in code has no file and may be absolute.
func TestContextRule(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		context string
		ok      bool
	}{
		{".", true}, {"../..", true}, {"../../src/web", true}, {"sub/dir", true}, {"", true},
		{"/etc", false}, {"/", false}, {"//srv", false},
	} {
		p := filepath.Join(dir, "image.yaml")
		data := "base: scratch\n"
		if c.context != "" {
			data += "context: \"" + c.context + "\"\n"
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, LoadOptions{})
		if (err == nil) != c.ok {
			t.Errorf("context %q: Load error %v; want ok=%v", c.context, err, c.ok)
		}
		if err != nil {
			want := p + ":2:10: context: must be relative to the spec file; got " + c.context + "; want a directory such as . or ../.."
			if err.Error() != want {
				t.Errorf("context %q:\n got %s\nwant %s", c.context, err, want)
			}
		}
	}
	abs := t.TempDir()
	if errs := Validate(&Spec{Base: "scratch", Context: abs}); len(errs) != 0 {
		t.Errorf("Spec built in code with context %s: %v; want no error", abs, errs)
	}
}
