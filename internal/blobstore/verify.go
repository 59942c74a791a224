package blobstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrCorrupt is returned by Verify for a stored blob whose content no
// longer hashes to its name; the blob has then been removed.
var ErrCorrupt = errors.New("blobstore: corrupt blob")

// Verify checks that the stored blob h still hashes to h. A blob whose file
// is unchanged since it was last written or verified (same inode, size,
// mtime and ctime, noted in DIR/verified/<hex>) is trusted without being
// read; any change, even a chmod or a new hard link, makes Verify read and
// hash it once more. A corrupt blob is removed from the store and
// ErrCorrupt returned, so the caller can rebuild or fetch it again. A store
// opened with At is only read: nothing is stamped or removed.
func (s *Store) Verify(h v1.Hash) error {
	p := s.Path(h)
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	stamp, ok := fileStamp(fi)
	if ok {
		if b, err := os.ReadFile(s.stampPath(h)); err == nil && string(b) == stamp {
			return nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	got, _, err := v1.SHA256(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("verifying blob %s: %w", h, err)
	}
	if got != h {
		if s.readOnly {
			return fmt.Errorf("%w: %s hashes to %s", ErrCorrupt, h, got)
		}
		os.Remove(p)
		os.Remove(s.stampPath(h))
		return fmt.Errorf("%w: %s hashes to %s (removed from the cache)", ErrCorrupt, h, got)
	}
	if ok && !s.readOnly {
		s.writeStamp(h, stamp)
	}
	return nil
}

// stampPath is where the stamp of a verified blob lives.
func (s *Store) stampPath(h v1.Hash) string {
	return filepath.Join(s.dir, "verified", h.Algorithm+"-"+h.Hex)
}

// noteVerified stamps the blob h, just written from bytes hashed on the
// way, as verified.
func (s *Store) noteVerified(h v1.Hash) {
	fi, err := os.Stat(s.Path(h))
	if err != nil {
		return
	}
	if stamp, ok := fileStamp(fi); ok {
		s.writeStamp(h, stamp)
	}
}

// writeStamp records stamp for h; a stamp that cannot be written only costs
// a read at the next Verify.
func (s *Store) writeStamp(h v1.Hash, stamp string) {
	dir := filepath.Join(s.dir, "verified")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, ".stamp-*")
	if err != nil {
		return
	}
	_, werr := tmp.WriteString(stamp)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), s.stampPath(h)) != nil {
		os.Remove(tmp.Name())
	}
}
