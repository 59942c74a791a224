package strata_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
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

// listPackages returns every package of the module by import path.
func listPackages(t *testing.T) map[string]goPackage {
	t.Helper()
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
	return pkgs
}

// TestDependencyFence enforces the package layout (docs: the house; style.md
// §4): cmd → compose → its rooms → spec → schema, never the other way, and
// the rooms stay apart where the design says so.
func TestDependencyFence(t *testing.T) {
	pkgs := listPackages(t)
	ours := func(p string) string { return module + "/" + p }
	for _, need := range []string{"spec", "spec/lock", "spec/discover", "schema", "cmd/strata", "compose", "compose/layer", "compose/base",
		"compose/basetree", "compose/diff", "compose/oci", "compose/registry", "compose/registry/local", "compose/store", "compose/remotecache",
		"internal/blobstore", "internal/atomicfile", "internal/pinnedgzip", "internal/ctxio", "internal/diffid", "internal/fixture", "internal/readahead",
		"compose/sbom", "compose/provenance", "compose/sign", "compose/attach", "compose/locked"} {
		if _, ok := pkgs[ours(need)]; !ok {
			t.Fatalf("go list did not report %s", ours(need))
		}
	}
	// under reports whether dep is pkg or one of its subpackages.
	under := func(dep, pkg string) bool { return dep == ours(pkg) || strings.HasPrefix(dep, ours(pkg)+"/") }
	forbid := func(pkg string, bad func(dep string) bool, why string) {
		t.Helper()
		for _, d := range pkgs[ours(pkg)].Deps {
			if bad(d) {
				t.Errorf("%s depends on %s: %s", pkg, d, why)
			}
		}
	}
	// onlyOurs allows, among strata's packages, just the listed ones.
	onlyOurs := func(pkg string, allowed ...string) {
		t.Helper()
		why := "it may import none of strata's packages"
		if len(allowed) > 0 {
			why = "of strata's packages it may import only " + strings.Join(allowed, ", ")
		}
		forbid(pkg, func(d string) bool {
			return strings.HasPrefix(d, module+"/") && !slices.ContainsFunc(allowed, func(a string) bool { return d == ours(a) })
		}, why)
	}

	forbid("spec", func(d string) bool { return under(d, "compose") }, "spec must not import compose")
	for _, heavy := range []string{"remote", "mutate", "tarball"} {
		forbid("spec", func(d string) bool {
			return d == "github.com/google/go-containerregistry/pkg/v1/"+heavy
		}, "spec may use ggcr's name package only, not "+heavy)
	}
	onlyOurs("schema")
	// The lock file format knows nothing of composing; package compose
	// makes and checks locks.
	onlyOurs("spec/lock", "internal/atomicfile")
	// Discovery finds and shares out specs; it composes nothing.
	onlyOurs("spec/discover", "spec", "schema")

	// The rooms of compose, each with what it may import.
	onlyOurs("internal/atomicfile")
	onlyOurs("internal/ctxio")
	onlyOurs("internal/diffid")
	onlyOurs("internal/readahead")
	onlyOurs("internal/pinnedgzip")
	onlyOurs("internal/blobstore", "internal/atomicfile")
	onlyOurs("compose/layer", "spec", "schema", "internal/blobstore", "internal/atomicfile", "internal/pinnedgzip")
	onlyOurs("compose/oci", "spec", "schema", "internal/blobstore", "internal/atomicfile", "internal/ctxio")
	onlyOurs("compose/base", "spec", "schema", "compose/oci", "internal/blobstore", "internal/atomicfile", "internal/ctxio", "internal/pinnedgzip", "internal/readahead")
	onlyOurs("compose/basetree", "spec", "schema", "compose/layer", "internal/blobstore", "internal/atomicfile", "internal/ctxio", "internal/pinnedgzip", "internal/diffid")
	// diff compares artifacts; it knows nothing of specs being composed.
	onlyOurs("compose/diff", "spec", "schema", "compose/oci", "internal/blobstore", "internal/atomicfile", "internal/ctxio")
	// The SBOM reads an image's layers; it knows nothing of specs or composing.
	// It stores the inventories of layers it read in the cache, as every
	// strata cache file is written: atomically.
	onlyOurs("compose/sbom", "internal/ctxio", "internal/atomicfile", "internal/diffid")
	// Provenance and signing are formats and crypto; nothing of strata's.
	onlyOurs("compose/provenance")
	onlyOurs("compose/sign")
	// compose never imports the packages that work on its results: the
	// lock checks (compose/locked) and the supply-chain documents.
	forbid("compose", func(d string) bool { return under(d, "compose/locked") }, "compose must not import compose/locked")
	// The supply-chain documents of a built image, attached as referrers;
	// compose itself never imports them.
	forbid("compose", func(d string) bool { return under(d, "compose/attach") }, "compose must not import compose/attach")
	// The registry side takes artifacts, never a spec's composition.
	onlyOurs("compose/registry", "spec", "schema", "compose/oci", "internal/blobstore", "internal/atomicfile", "internal/ctxio")
	// The local disk's upkeep (images, prune, in-use locks) reads layouts
	// through compose/oci only.
	onlyOurs("compose/store", "spec", "schema", "compose/oci", "internal/blobstore", "internal/atomicfile", "internal/ctxio")
	// The registry-backed build cache maps input keys to image digests in
	// the registry; it knows neither specs nor composing.
	onlyOurs("compose/remotecache")
	// The development registry imports nothing of strata's.
	onlyOurs("compose/registry/local")
	// compose composes; it never pushes.
	forbid("compose", func(d string) bool { return under(d, "compose/registry") }, "compose must not import the registry side")

	for path, p := range pkgs {
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/cmd/") {
				t.Errorf("%s imports %s: nothing imports cmd", path, imp)
			}
			// Test fixtures are for _test.go files only (Imports lists
			// non-test files).
			if imp == ours("internal/fixture") {
				t.Errorf("%s imports %s outside its _test.go files", path, imp)
			}
			// Imports lists non-test files only: strata never starts a
			// program (credential helpers, started by ggcr's keychain, are
			// the one documented exception); tests may.
			if imp == "os/exec" {
				t.Errorf("%s imports os/exec outside its _test.go files: strata never executes anything", path)
			}
		}
		if !strings.HasPrefix(path, module+"/cmd/") {
			forbid(strings.TrimPrefix(path, module+"/"), func(d string) bool { return d == "github.com/spf13/cobra" }, "only cmd uses cobra")
		}
	}
}
