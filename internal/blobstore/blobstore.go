// Package blobstore is strata's content-addressed blob directory: layer
// blobs, base manifests and configs, laid out as DIR/blobs/sha256/<hex> like
// an OCI layout, so layouts can hard-link blobs out of it.
//
// A blob that exists is complete: it is written through package atomicfile
// (a temporary file under DIR/tmp, synced, renamed by its digest). Blobs are
// read-only (mode 0444) and never changed in place.
//
// It imports only package atomicfile of strata's.
package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/atomicfile"
)

// Mode is the mode of every stored blob. Blobs are immutable and readable by
// all, like an OCI layout's, so layouts hard-link them instead of copying;
// being read-only, a blob shared by the cache and a layout cannot be changed
// in place through either.
const Mode = 0o444

// Store is a content-addressed directory of blobs.
type Store struct {
	dir      string
	readOnly bool // opened with At: Verify writes and removes nothing
}

// Open creates dir (and its blobs and tmp subdirectories) if needed and
// returns a store rooted there.
func Open(dir string) (*Store, error) {
	for _, d := range []string{filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("opening blob store %s: %w", dir, err)
		}
	}
	// What killed writers left in tmp goes now (atomicfile.RemoveStale).
	atomicfile.RemoveStale(filepath.Join(dir, "tmp"), "", time.Now())
	return &Store{dir: dir}, nil
}

// At returns a store rooted at dir without creating anything: for reads,
// and for dry runs that must leave no trace on disk.
func At(dir string) *Store { return &Store{dir: dir, readOnly: true} }

// ReadOnly reports whether the store was opened with At, for reads only.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.dir }

// TempDir returns the directory temporary files of the store go to.
func (s *Store) TempDir() string { return filepath.Join(s.dir, "tmp") }

// Path returns where the blob with digest h lives.
func (s *Store) Path(h v1.Hash) string {
	return filepath.Join(s.dir, "blobs", h.Algorithm, h.Hex)
}

// Has reports whether the blob h is stored.
func (s *Store) Has(h v1.Hash) bool {
	_, err := os.Stat(s.Path(h))
	return err == nil
}

// Open opens the stored blob h.
func (s *Store) Open(h v1.Hash) (*os.File, error) {
	return os.Open(s.Path(h))
}

// Writer streams one blob into the store; Commit names it by its digest.
type Writer struct {
	store *Store
	f     *atomicfile.File
	h     hash.Hash
}

// Create starts a new blob.
func (s *Store) Create() (*Writer, error) {
	f, err := atomicfile.Create(s.TempDir(), "blob-*")
	if err != nil {
		return nil, fmt.Errorf("creating blob: %w", err)
	}
	return &Writer{store: s, f: f, h: sha256.New()}, nil
}

// Write adds p to the blob and its digest.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	return n, err
}

// Size returns the bytes written so far.
func (w *Writer) Size() int64 { return w.f.Size() }

// Digest returns the digest of the bytes written so far (after the last
// Write, the digest Commit will store the blob under).
func (w *Writer) Digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
}

// File returns the temporary file (for writeback hints; never close it).
func (w *Writer) File() *os.File { return w.f.OS() }

// Commit syncs the blob and renames it to its digest. It returns the digest
// and size.
func (w *Writer) Commit() (v1.Hash, int64, error) {
	h := w.Digest()
	if err := w.f.Commit(w.store.Path(h), Mode); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("storing blob %s: %w", h, err)
	}
	w.store.noteVerified(h)
	return h, w.f.Size(), nil
}

// Abort discards the blob. It is safe to call after Commit.
func (w *Writer) Abort() { w.f.Abort() }

// PutBytes stores b and returns its digest.
func (s *Store) PutBytes(b []byte) (v1.Hash, error) {
	w, err := s.Create()
	if err != nil {
		return v1.Hash{}, err
	}
	defer w.Abort()
	if _, err := w.Write(b); err != nil {
		return v1.Hash{}, fmt.Errorf("writing blob: %w", err)
	}
	h, _, err := w.Commit()
	return h, err
}

// Hasher counts and hashes (sha256) what is written to it: the diffID or
// digest of a stream.
type Hasher struct {
	h hash.Hash
	n int64
}

// NewHasher returns an empty Hasher.
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

// Write hashes p; it never fails.
func (w *Hasher) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

// Sum returns the digest of everything written.
func (w *Hasher) Sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
}

// Size returns how many bytes were written.
func (w *Hasher) Size() int64 { return w.n }

// Uncompressed decompresses the compressed layer l through ggcr, which
// never calls back into l's own Uncompressed (only the methods of
// partial.CompressedLayer are visible to it).
func Uncompressed(l partial.CompressedLayer) (io.ReadCloser, error) {
	cl, err := partial.CompressedToLayer(compressedOnly{l})
	if err != nil {
		return nil, err
	}
	return cl.Uncompressed()
}

// compressedOnly hides everything but partial.CompressedLayer.
type compressedOnly struct{ l partial.CompressedLayer }

func (c compressedOnly) Digest() (v1.Hash, error)            { return c.l.Digest() }
func (c compressedOnly) Compressed() (io.ReadCloser, error)  { return c.l.Compressed() }
func (c compressedOnly) Size() (int64, error)                { return c.l.Size() }
func (c compressedOnly) MediaType() (types.MediaType, error) { return c.l.MediaType() }

var (
	_ io.Writer = (*Writer)(nil)
	_ io.Writer = (*Hasher)(nil)
)
