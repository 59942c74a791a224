package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_CorruptCachedLayerRebuilt (issue 13 point 4): a byte flipped in a
// cached layer blob is found before the blob is linked into a new layout:
// the entry is evicted, the layer built again (same digest), the user told,
// and every blob of the new layout hashes to its name.
func TestCLI_CorruptCachedLayerRebuilt(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	if err := os.MkdirAll(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte(strings.Repeat("<p>hello</p>\n", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "image.yaml")
	if err := os.WriteFile(specPath, []byte("base: scratch\nlayers:\n  - files:\n      - src: site/**\n        dest: /srv/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out1, errOut := runCLI(t, "build", "--cache-dir", cache, "--oci", filepath.Join(dir, "one"), specPath)
	if code != 0 {
		t.Fatalf("first build: exit %d\n%s", code, errOut)
	}
	layer := layerDigest(t, filepath.Join(dir, "one"))
	var blob string
	filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == layer && strings.Contains(p, "blobs") {
			blob = p
		}
		return nil
	})
	if blob == "" {
		t.Fatalf("layer %s not found in the cache", layer)
	}
	// Flip one byte in the middle of the cached blob (it is read-only).
	if err := os.Chmod(blob, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blob, b, 0o444); err != nil {
		t.Fatal(err)
	}
	os.Chmod(blob, 0o444)

	code, out2, errOut := runCLI(t, "build", "--cache-dir", cache, "--oci", filepath.Join(dir, "two"), specPath)
	if code != 0 {
		t.Fatalf("second build: exit %d\n%s", code, errOut)
	}
	if out1 != out2 {
		t.Errorf("digest changed: %s then %s", out1, out2)
	}
	if !strings.Contains(errOut, "strata: warning: cached layer blob was corrupt: evicted it and built the layer again (digest=sha256:"+layer) {
		t.Errorf("no warning about the repair:\n%s", errOut)
	}
	checkLayoutBlobs(t, filepath.Join(dir, "two"))
}

// layerDigest returns the hex digest of the single layer of the image in
// an OCI layout holding one image.
func layerDigest(t *testing.T, layout string) string {
	t.Helper()
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSON(t, filepath.Join(layout, "index.json"), &idx)
	var m struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	readJSON(t, filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(idx.Manifests[0].Digest, "sha256:")), &m)
	if len(m.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(m.Layers))
	}
	return strings.TrimPrefix(m.Layers[0].Digest, "sha256:")
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// checkLayoutBlobs fails unless every blob of layout hashes to its name.
func checkLayoutBlobs(t *testing.T, layout string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != e.Name() {
			t.Errorf("blob %s hashes to %x", e.Name(), sum)
		}
	}
}
