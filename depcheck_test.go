package strata_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/strata-build/strata"

// goPackage is the part of `go list -json` the fence reads.
type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// TestDependencyFence enforces the package layout (style.md §4): cmd →
// compose → spec → schema, never the other way.
func TestDependencyFence(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	for _, need := range []string{module + "/spec", module + "/schema", module + "/cmd/strata"} {
		if _, ok := pkgs[need]; !ok {
			t.Fatalf("go list did not report %s", need)
		}
	}
	forbid := func(pkg string, bad func(dep string) bool, why string) {
		for _, d := range pkgs[pkg].Deps {
			if bad(d) {
				t.Errorf("%s depends on %s: %s", pkg, d, why)
			}
		}
	}
	forbid(module+"/spec", func(d string) bool { return d == module+"/compose" || strings.HasPrefix(d, module+"/compose/") },
		"spec must not import compose")
	for _, heavy := range []string{"remote", "mutate", "tarball"} {
		forbid(module+"/spec", func(d string) bool {
			return d == "github.com/google/go-containerregistry/pkg/v1/"+heavy
		}, "spec may use ggcr's name package only, not "+heavy)
	}
	forbid(module+"/schema", func(d string) bool { return strings.HasPrefix(d, module+"/") },
		"schema imports nothing of strata's")
	for path, p := range pkgs {
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/cmd/") {
				t.Errorf("%s imports %s: nothing imports cmd", path, imp)
			}
			// Imports lists non-test files only: strata never starts a
			// program (credential helpers, started by ggcr's keychain, are
			// the one documented exception); tests may.
			if imp == "os/exec" {
				t.Errorf("%s imports os/exec outside its _test.go files: strata never executes anything", path)
			}
		}
		if !strings.HasPrefix(path, module+"/cmd/") {
			forbid(path, func(d string) bool { return d == "github.com/spf13/cobra" }, "only cmd uses cobra")
		}
	}
}
