package spec

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// FuzzLoad feeds arbitrary bytes to Load as a YAML or a CUE spec. Load must
// not panic, every problem must carry a position, inputs over MaxSpecSize
// are rejected, and an accepted spec re-marshalled as JSON (which is YAML)
// loads to the same model (compared in JSON form).
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*/image.*")
	seeds = append(seeds, "../image.yaml.example", "../image.cue.example")
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data, strings.HasSuffix(strings.TrimSuffix(p, ".example"), ".cue"))
		}
	}
	arch, _ := filepath.Glob("testdata/invalid/*.txtar")
	for _, p := range arch {
		ar, err := txtar.ParseFile(p)
		if err != nil || len(ar.Files) == 0 {
			continue
		}
		f.Add(ar.Files[0].Data, strings.HasSuffix(ar.Files[0].Name, ".cue"))
	}
	f.Fuzz(func(t *testing.T, data []byte, isCUE bool) {
		dir := t.TempDir()
		name := filepath.Join(dir, "image.yaml")
		if isCUE {
			name = filepath.Join(dir, "image.cue")
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := LoadOptions{Vars: map[string]string{"VERSION": "1.2.3"}}
		s, err := Load(name, opts)
		if len(data) > MaxSpecSize && err == nil {
			t.Fatalf("a %d-byte spec was accepted", len(data))
		}
		if err != nil {
			el, ok := err.(ErrorList)
			if !ok {
				t.Fatalf("Load error is %T, want ErrorList: %v", err, err)
			}
			if len(el) == 0 {
				t.Fatal("empty ErrorList returned as an error")
			}
			for _, e := range el {
				if e.Pos.File == "" || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Fatalf("error without a position: %q", e.Error())
				}
				if strings.Contains(e.Error(), "\n") {
					t.Fatalf("multi-line error: %q", e.Error())
				}
			}
			return
		}
		if errs := Validate(s); len(errs) > 0 {
			t.Fatalf("Load accepted a spec that Validate rejects: %v", errs)
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(again), "$") {
			return // "$$" and ${TARGET…} would be read again as variables
		}
		name2 := filepath.Join(dir, "again.yaml")
		if err := os.WriteFile(name2, again, 0o644); err != nil {
			t.Fatal(err)
		}
		s2, err := Load(name2, opts)
		if err != nil {
			t.Fatalf("re-loading %s: %v", again, err)
		}
		// Compare JSON forms: JSON's omitempty cannot tell an empty list
		// from an absent one, which the model can.
		again2, err := json.Marshal(s2)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(again2) {
			t.Fatalf("round trip changed the spec:\n%s\n%s", again, again2)
		}
	})
}

// FuzzNormalizeTarget checks NormalizeTarget's contract on any string.
func FuzzNormalizeTarget(f *testing.F) {
	for _, s := range []string{
		"/app/x", "app/x", "./app/x", "/", ".", "", "//x", "/a/./b", "/a/../b", "..", `a\..\b`, `C:\x`,
		"/a\x00b", "/.wh.foo", "/x/.wh..wh..opq", "/" + strings.Repeat("n", 300), "/a/", "/\u0065\u0301",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeTarget(in)
		fileOut, fileErr := NormalizeFileTarget(in)
		if err != nil {
			if fileErr == nil {
				t.Fatalf("NormalizeFileTarget(%q) accepts what NormalizeTarget rejects", in)
			}
			return
		}
		if out != "" {
			if !filepath.IsLocal(out) {
				t.Fatalf("NormalizeTarget(%q) = %q: not local", in, out)
			}
			again, err := NormalizeTarget("/" + out)
			if err != nil || again != out {
				t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
			}
		}
		for _, seg := range strings.Split(out, "/") {
			if seg == ".." || strings.HasPrefix(seg, ".wh.") || len(seg) > MaxNameLen {
				t.Fatalf("NormalizeTarget(%q) = %q: bad segment %q", in, out, seg)
			}
		}
		if strings.ContainsAny(out, "\\\x00") || strings.HasPrefix(out, "/") || path.Clean("/"+out) != "/"+out {
			t.Fatalf("NormalizeTarget(%q) = %q: not clean", in, out)
		}
		if fileErr == nil && (fileOut == "" || fileOut == "." || fileOut == "/" || fileOut != out) {
			t.Fatalf("NormalizeFileTarget(%q) = %q (NormalizeTarget %q)", in, fileOut, out)
		}
		if out == "" && fileErr == nil {
			t.Fatalf("NormalizeFileTarget(%q) accepted the root", in)
		}
	})
}
