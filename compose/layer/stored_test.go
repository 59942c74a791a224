package layer

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/strata-build/strata/spec"
)

// TestStoredLayerBlobPath checks that a built layer offers its blob store
// file to output sinks (which hard-link it; see compose's
// TestLayoutHardLinksBuiltLayers), read-only so a hard link cannot change
// it, and that the layer still decompresses to its content.
func TestStoredLayerBlobPath(t *testing.T) {
	env := newEnv(t, []tfile{{path: "a.txt", content: "hello"}})
	bl := env.build(t, spec.Layer{Files: []spec.File{{Src: "a.txt", Dest: "/a.txt"}}})
	d, _ := bl.Layer.Digest()
	p, err := bl.Layer.(interface {
		BlobPath(context.Context) (string, error)
	}).BlobPath(context.Background())
	if err != nil || p != env.store.Path(d) {
		t.Fatalf("BlobPath() = %q, %v; want the store's %s", p, err, env.store.Path(d))
	}
	inStore, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if perm := inStore.Mode().Perm(); perm != 0o444 {
		t.Errorf("stored blob mode = %o, want 444 (read-only: shared with layouts)", perm)
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
