package spec

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite golden files (testdata/invalid want sections, schema/image.schema.json)")

// TestInvalidSpecs loads each testdata/invalid/*.txtar archive and compares
// the error lines with its "want" file. The archive comment may hold
// directives, one per line:
//
//	load: PATH   the spec to load (default: the first file)
//	set: K=V     a LoadOptions.Vars entry
//	env: K=V     a variable LookupEnv finds
//
// Run with -update to rewrite the want files.
func TestInvalidSpecs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("only %d invalid specs; want at least 30", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			golden, err := filepath.Abs(file)
			if err != nil {
				t.Fatal(err)
			}
			ar, err := txtar.ParseFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			load := ""
			opts := LoadOptions{Vars: map[string]string{}}
			env := map[string]string{}
			opts.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			for _, line := range strings.Split(string(ar.Comment), "\n") {
				key, val, _ := strings.Cut(line, ": ")
				switch key {
				case "load":
					load = val
				case "set":
					k, v, _ := strings.Cut(val, "=")
					opts.Vars[k] = v
				case "env":
					k, v, _ := strings.Cut(val, "=")
					env[k] = v
				}
			}
			wantIdx := -1
			for i, f := range ar.Files {
				if f.Name == "want" {
					wantIdx = i
					continue
				}
				p := filepath.Join(dir, filepath.FromSlash(f.Name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
				if load == "" {
					load = f.Name
				}
			}
			t.Chdir(dir)
			_, err = Load(load, opts)
			got := ""
			if err != nil {
				got = err.Error() + "\n"
			}
			if err == nil {
				t.Errorf("Load(%s) succeeded; want errors", load)
			}
			if err != nil {
				if _, ok := err.(ErrorList); !ok {
					t.Errorf("Load(%s) error is %T, want ErrorList", load, err)
				}
				for _, e := range err.(ErrorList) {
					if e.Pos.File == "" || e.Pos.Line == 0 {
						t.Errorf("error without a position: %v", e)
					}
				}
			}
			if *update {
				if wantIdx < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "want"})
					wantIdx = len(ar.Files) - 1
				}
				ar.Files[wantIdx].Data = []byte(got)
				if err := os.WriteFile(golden, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if wantIdx < 0 {
				t.Fatalf("no want file; run go test -run TestInvalidSpecs -update")
			}
			if want := string(ar.Files[wantIdx].Data); got != want {
				t.Errorf("Load(%s) errors:\n%s\nwant:\n%s", load, got, want)
			}
		})
	}
}
