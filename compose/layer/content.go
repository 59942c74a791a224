package layer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
)

// fileStat is what is compared to tell whether a source file changed.
type fileStat struct {
	size  int64
	mtime int64 // ns
	ctime int64 // ns; 0 where the platform does not report it
	mode  fs.FileMode
	uid   uint32
	gid   uint32
	dev   uint64
	ino   uint64
	nlink uint64
}

// sameFile reports whether b is the file a was (same inode, same type).
func (a fileStat) sameFile(b fileStat) bool {
	return a.dev == b.dev && a.ino == b.ino && a.mode.Type() == b.mode.Type()
}

// contentRef says where a regular file's bytes come from: a context file
// read through the os.Root, or a section of an archive's spool file.
type contentRef struct {
	path string   // context-relative path (context files)
	stat fileStat // as lstat saw it while planning

	spool *os.File // archive members: the spool and the member's offset
	off   int64

	sum    [sha256.Size]byte // content hash, from the key pass or the write pass
	hasSum bool
	// sharedRacy is set when sum came from another build of this command
	// (Sums) that read the input within the racy window: it is good for a
	// key to look up and for a write, which checks it, but an input is read
	// again before any cache hit that would skip the read (unshareRacy),
	// and such a hash is never recorded.
	sharedRacy bool

	pin      string // sha256 (hex) a pinned plain file must have
	pinField string // its spec field, for the error
}

// errChanged is wrapped by every "file changed while reading" error.
var errChanged = errors.New("file changed while reading")

// readBufSize is the copy buffer per file being read.
const readBufSize = 1 << 20

// openSource opens a context file for reading through the os.Root and
// checks it is still the regular file that was planned (same device and
// inode, size, mtime and ctime), so a file swapped for a symlink, fifo or
// another file, or changed in any way after planning, is an error, not read.
func openSource(root *os.Root, c *contentRef) (*os.File, fileStat, error) {
	f, err := root.OpenFile(c.path, os.O_RDONLY|openNoFollowFlags, 0)
	if err != nil {
		return nil, fileStat{}, fmt.Errorf("file %s: %w", c.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileStat{}, fmt.Errorf("file %s: %w", c.path, err)
	}
	st := statOf(fi)
	if !fi.Mode().IsRegular() || !st.sameFile(c.stat) || st.size != c.stat.size || st.mtime != c.stat.mtime || st.ctime != c.stat.ctime {
		f.Close()
		return nil, fileStat{}, fmt.Errorf("file %s: %w (it was replaced or modified after it was listed)", c.path, errChanged)
	}
	return f, st, nil
}

// copyContent streams exactly size bytes of c to w (nil: only hash them)
// and returns their sha256; archive members (spool sections) are hashed
// only with sumMembers (an observer wants the sum; no key uses it) and
// otherwise return a zero sum. A context
// file that is shorter or longer than planned, whose size, mtime or ctime
// differs after the copy, or whose content differs from an earlier read
// (c.hasSum), is an error wrapping errChanged. beforeRead, when set, runs
// after the file is opened.
func copyContent(ctx context.Context, root *os.Root, c *contentRef, w io.Writer, buf []byte, beforeRead func(string), sumMembers bool) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if c.spool != nil {
		var h hash.Hash
		if sumMembers {
			h = sha256.New()
		}
		r := io.NewSectionReader(c.spool, c.off, c.stat.size)
		if err := copyExactly(ctx, r, w, h, c.stat.size, buf); err != nil {
			return sum, fmt.Errorf("archive member %s: %w", c.path, err)
		}
		if h != nil {
			h.Sum(sum[:0])
		}
		return sum, nil
	}
	h := sha256.New()
	f, st, err := openSource(root, c)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	if beforeRead != nil {
		beforeRead(c.path)
	}
	if err := copyExactly(ctx, f, w, h, st.size, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return sum, fmt.Errorf("file %s: %w (short read)", c.path, errChanged)
		}
		return sum, fmt.Errorf("file %s: %w", c.path, err)
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n > 0 {
		return sum, fmt.Errorf("file %s: %w (it grew past %d bytes)", c.path, errChanged, st.size)
	}
	h.Sum(sum[:0])
	if c.hasSum && sum != c.sum {
		return sum, fmt.Errorf("file %s: %w (content differs from the first read)", c.path, errChanged)
	}
	fi, err := f.Stat()
	if err != nil {
		return sum, fmt.Errorf("file %s: %w", c.path, err)
	}
	if after := statOf(fi); after.size != st.size || after.mtime != st.mtime || after.ctime != st.ctime {
		return sum, fmt.Errorf("file %s: %w (size, mtime or ctime changed)", c.path, errChanged)
	}
	return sum, nil
}

// copyExactly copies n bytes from r to w and h (either may be nil),
// checking ctx between chunks. Fewer bytes is io.ErrUnexpectedEOF.
func copyExactly(ctx context.Context, r io.Reader, w io.Writer, h hash.Hash, n int64, buf []byte) error {
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf
		if int64(len(b)) > n {
			b = b[:n]
		}
		k, err := io.ReadFull(r, b)
		if k > 0 {
			if h != nil {
				h.Write(b[:k])
			}
			if w != nil {
				if _, werr := w.Write(b[:k]); werr != nil {
					return werr
				}
			}
			n -= int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}
