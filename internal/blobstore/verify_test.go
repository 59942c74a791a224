package blobstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/atomicfile"
)

// TestVerify: a blob just written is trusted by its stamp; a flipped byte
// is found, the blob removed and ErrCorrupt returned (issue 13 point 4).
func TestVerify(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.PutBytes([]byte("hello, layer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(h); err != nil {
		t.Fatalf("fresh blob: %v", err)
	}
	p := s.Path(h)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("hello, LAYER"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = s.Verify(h)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt blob: err = %v, want ErrCorrupt", err)
	}
	if s.Has(h) {
		t.Error("the corrupt blob is still in the store")
	}
}

// TestOpenRemovesOrphans (issue 13 point 9): a temporary blob a killed
// build left in the cache goes at the next Open; a live writer's file and a
// file created an instant ago stay.
func TestOpenRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Minute)
	killed := filepath.Join(s.TempDir(), atomicfile.TempPrefix+"blob-killed")
	fresh := filepath.Join(s.TempDir(), atomicfile.TempPrefix+"blob-fresh")
	for _, p := range []string{killed, fresh} {
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Chtimes(killed, old, old)
	live, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	live.Write([]byte("still being written"))
	os.Chtimes(live.File().Name(), old, old)

	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the killed writer's file is still there (%v)", err)
	}
	for _, p := range []string{fresh, live.File().Name()} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}
