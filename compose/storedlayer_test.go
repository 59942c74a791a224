package compose

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/strata-build/strata/spec"
)

// TestStoredLayerHardLinkedIntoLayout checks that a built layer reaches an
// OCI layout as a hard link to the blob store's file (no second copy of the
// bytes), and that the layer still decompresses to its diffID.
func TestStoredLayerHardLinkedIntoLayout(t *testing.T) {
	env := newEnv(t, []tfile{{path: "a.txt", content: "hello"}})
	bl := env.build(t, spec.Layer{Files: []spec.File{{Src: "a.txt", Dest: "/a.txt"}}})
	img, err := mutate.AppendLayers(empty.Image, bl.Layer)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "oci")
	if err := writeLayout(context.Background(), out, Artifact{Image: img}, "v1"); err != nil {
		t.Fatal(err)
	}
	d, _ := bl.Layer.Digest()
	inStore, err := os.Stat(env.store.path(d))
	if err != nil {
		t.Fatal(err)
	}
	if perm := inStore.Mode().Perm(); perm != 0o444 {
		t.Errorf("stored blob mode = %o, want 444 (read-only: shared with layouts)", perm)
	}
	inLayout, err := os.Stat(filepath.Join(out, "blobs", "sha256", d.Hex))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(inStore, inLayout) {
		t.Errorf("layout blob %s is a copy, want a hard link to the store's", d.Hex)
	}
	rc, err := bl.Layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if es := readTar(t, rc); len(es) != 1 || es[0].hdr.Name != "a.txt" || es[0].content != "hello" {
		t.Errorf("uncompressed layer = %v, want the one entry a.txt", es)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
}
