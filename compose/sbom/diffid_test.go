package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// dpkgLayer is a layer holding a dpkg status file listing pkg.
func dpkgLayer(t *testing.T, pkg string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := "Package: " + pkg + "\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
	tw.WriteHeader(&tar.Header{Name: "var/lib/dpkg/status", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
	io.WriteString(tw, body)
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// claimingLayer claims another layer's diffID, as a hostile base's config
// can.
type claimingLayer struct {
	v1.Layer
	claim v1.Hash
}

func (l claimingLayer) DiffID() (v1.Hash, error) { return l.claim, nil }

// TestInventoryChecksDiffID: a layer whose content does not hash to the
// diffID it claims gives an error, and no inventory is kept under the
// claimed diffID, in memory or on disk, for a later command to trust.
func TestInventoryChecksDiffID(t *testing.T) {
	real := dpkgLayer(t, "openssl")
	claim, _ := real.DiffID()
	fake := claimingLayer{dpkgLayer(t, "nothing-to-see"), claim}
	dir := t.TempDir()
	m := NewMemo(dir)
	if _, err := m.inventory(context.Background(), fake, false, 1<<20); err == nil || !strings.Contains(err.Error(), "but the config's diff_id is "+claim.String()) {
		t.Fatalf("inventory of a layer with a false diffID: %v", err)
	}
	if m.get(claim, false, 1<<20) != nil {
		t.Error("an inventory was kept in memory under the claimed diffID")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files written under %s: %v", filepath.Base(dir), ents)
	}
	// The real layer is read and listed.
	inv, err := NewMemo(dir).inventory(context.Background(), real, false, 1<<20)
	if err != nil || inv == nil {
		t.Fatalf("inventory of the real layer: %v", err)
	}
}
