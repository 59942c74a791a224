package blobstore

import (
	"errors"
	"os"
	"testing"
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
