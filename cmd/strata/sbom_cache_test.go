package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// layoutBlobs returns the blobs of an OCI layout by name.
func layoutBlobs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// TestBuildSBOMInventories: build --sbom stores what the SBOM needs of each
// layer it wrote under CACHE/sbom; a rebuild from the layer cache, with
// that inventory corrupted, writes the same layout (image and SBOM, byte
// for byte) and a good inventory again; --sbom=false stores none.
func TestBuildSBOMInventories(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"image.yaml":   "base: scratch\nlayers:\n  - name: app\n    files:\n      - {src: app/**, dest: /app/}\n",
		"app/a.txt":    "a\n",
		"app/b/c.json": "{}\n",
	})
	cache := filepath.Join(dir, "c")
	if code, _, stderr := runStrata(t, dir, nil, "build", "--cache-dir", cache, "--oci", "out1", "--sbom", "image.yaml"); code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	invs, _ := filepath.Glob(filepath.Join(cache, "sbom", "sha256-*"))
	if len(invs) != 1 {
		t.Fatalf("CACHE/sbom holds %v, want one inventory (the one layer)", invs)
	}
	good, err := os.ReadFile(invs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(invs[0], bytes.Replace(good, []byte("a.txt"), []byte("z.txt"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runStrata(t, dir, nil, "build", "--cache-dir", cache, "--oci", "out2", "--sbom", "image.yaml"); code != 0 {
		t.Fatalf("rebuild: exit %d: %s", code, stderr)
	}
	one, two := layoutBlobs(t, filepath.Join(dir, "out1")), layoutBlobs(t, filepath.Join(dir, "out2"))
	names := func(m map[string][]byte) []string {
		var out []string
		for n := range m {
			out = append(out, n)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(names(one), names(two)) {
		t.Errorf("the rebuild wrote other blobs:\n%v\n%v", names(one), names(two))
	}
	sboms := 0
	for _, b := range two {
		if bytes.Contains(b, []byte(`"spdxVersion"`)) {
			sboms++
			if !bytes.Contains(b, []byte("/app/a.txt")) {
				t.Errorf("the SBOM does not list /app/a.txt:\n%s", b)
			}
		}
	}
	if sboms != 1 {
		t.Errorf("%d SBOMs in the layout, want 1", sboms)
	}
	if b, _ := os.ReadFile(invs[0]); !bytes.Equal(b, good) {
		t.Error("the corrupt inventory was not written anew")
	}

	cache2 := filepath.Join(dir, "c2")
	if code, _, stderr := runStrata(t, dir, nil, "build", "--cache-dir", cache2, "--oci", "out3", "--sbom=false", "image.yaml"); code != 0 {
		t.Fatalf("build --sbom=false: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(cache2, "sbom")); !os.IsNotExist(err) {
		t.Errorf("--sbom=false made CACHE/sbom (%v)", err)
	}
}
