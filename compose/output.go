package compose

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tempPrefix starts the name of every temporary file or directory the output
// sinks create next to their targets, so leftovers of a crash are
// recognisable.
const tempPrefix = ".strata-tmp-"

// staleAfter is how long a temporary file or directory must have been left
// untouched before a later writer of the same output removes it (a process
// killed mid-write cannot clean up after itself). Live writers touch theirs
// far more often.
const staleAfter = 24 * time.Hour

// removeStaleTemps removes entries of dir whose names start with prefix and
// that were last modified more than staleAfter before now. Errors are
// ignored: this is housekeeping.
func removeStaleTemps(dir, prefix string, now time.Time) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > staleAfter {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// writeSeam wraps the writer of every file an output sink writes. Tests use
// it to fail after N bytes; production code passes nil.
type writeSeam func(io.Writer) io.Writer

// wrap applies the seam to w, if there is one.
func (s writeSeam) wrap(w io.Writer) io.Writer {
	if s == nil {
		return w
	}
	return s(w)
}

// writeFileAtomic writes path through fill: to a temporary file in the same
// directory, synced, renamed over path, then the directory synced. On any
// failure path is unchanged and the temporary file is removed.
func writeFileAtomic(path string, perm os.FileMode, fill func(io.Writer) error) error {
	return writeFileAtomicSeam(path, perm, fill, nil)
}

// writeFileAtomicSeam is writeFileAtomic with a test seam around the file.
func writeFileAtomicSeam(path string, perm os.FileMode, fill func(io.Writer) error, seam writeSeam) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(seam.wrap(f), 1<<16)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that renames into it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ctxWriter stops writing once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
