package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// blobMode is the mode of every stored blob. Blobs are immutable and
// readable by all, like an OCI layout's, so layouts hard-link them instead of
// copying; being read-only, a blob shared by the cache and a layout cannot be
// changed in place through either.
const blobMode = 0o444

// blobStore is a content-addressed directory of blobs (layers, configs and
// manifests), laid out as DIR/blobs/sha256/<hex> like an OCI layout. Blobs are
// written to a temporary file in the same directory, synced and renamed, so a
// blob that exists is always complete.
type blobStore struct {
	dir string
}

// openBlobStore creates dir if needed and returns a store rooted there.
func openBlobStore(dir string) (*blobStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("opening blob store %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("opening blob store %s: %w", dir, err)
	}
	return &blobStore{dir: dir}, nil
}

// path returns where the blob with digest h lives.
func (s *blobStore) path(h v1.Hash) string {
	return filepath.Join(s.dir, "blobs", h.Algorithm, h.Hex)
}

// has reports whether the blob h is stored.
func (s *blobStore) has(h v1.Hash) bool {
	_, err := os.Stat(s.path(h))
	return err == nil
}

// open opens the stored blob h.
func (s *blobStore) open(h v1.Hash) (*os.File, error) {
	return os.Open(s.path(h))
}

// blobWriter streams one blob into the store; Commit names it by its digest.
type blobWriter struct {
	store *blobStore
	f     *os.File
	h     hash.Hash
	n     int64
	done  bool
}

// create starts a new blob.
func (s *blobStore) create() (*blobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-*")
	if err != nil {
		return nil, fmt.Errorf("creating blob: %w", err)
	}
	return &blobWriter{store: s, f: f, h: sha256.New()}, nil
}

// Write adds p to the blob and its digest.
func (w *blobWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Commit syncs the blob and renames it to its digest. It returns the digest
// and size.
func (w *blobWriter) Commit() (v1.Hash, int64, error) {
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
	if err := w.f.Chmod(blobMode); err != nil {
		w.Abort()
		return v1.Hash{}, 0, fmt.Errorf("writing blob: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return v1.Hash{}, 0, fmt.Errorf("writing blob: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.Abort()
		return v1.Hash{}, 0, fmt.Errorf("writing blob: %w", err)
	}
	if err := os.Rename(w.f.Name(), w.store.path(h)); err != nil {
		w.Abort()
		return v1.Hash{}, 0, fmt.Errorf("storing blob %s: %w", h, err)
	}
	w.done = true
	return h, w.n, nil
}

// Abort discards the blob. It is safe to call after Commit.
func (w *blobWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// putBytes stores b and returns its digest.
func (s *blobStore) putBytes(b []byte) (v1.Hash, error) {
	w, err := s.create()
	if err != nil {
		return v1.Hash{}, err
	}
	if _, err := w.Write(b); err != nil {
		w.Abort()
		return v1.Hash{}, fmt.Errorf("writing blob: %w", err)
	}
	h, _, err := w.Commit()
	return h, err
}

var _ io.Writer = (*blobWriter)(nil)
