package sbom_test

import (
	"context"
	"testing"

	"github.com/strata-build/strata/compose/sbom"
)

// TestAddedDatabaseIsHashedWhole: a package database that strata itself
// adds is both a file of the image (listed with the hashes of its whole
// content) and the source of the OS packages.
func TestAddedDatabaseIsHashedWhole(t *testing.T) {
	img := image(t, layer(t, entry{"var/lib/dpkg/", ""}, entry{"var/lib/dpkg/status", dpkgStatus}))
	inv, err := sbom.Scan(context.Background(), img, 1, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Files) != 1 || inv.Files[0].Path != "/var/lib/dpkg/status" {
		t.Fatalf("files: %+v", inv.Files)
	}
	if got, want := inv.Files[0].SHA256, sha256Hex([]byte(dpkgStatus)); got != want {
		t.Errorf("sha256 of the added status file: %s, want %s (its whole content)", got, want)
	}
	if len(inv.Packages) != 3 {
		t.Errorf("packages: %+v, want the 3 installed ones", inv.Packages)
	}
}
