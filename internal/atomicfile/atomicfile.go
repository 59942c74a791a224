// Package atomicfile writes files that appear complete or not at all.
//
// Every file strata writes for keeps (blobs, layer records, base indexes, an
// OCI layout's index.json, a docker tarball) goes through [File]: bytes go to
// a temporary file in the target's directory, which is synced, given its
// mode, renamed over the target, and the directory is synced so the rename
// survives a crash. On any failure the target is unchanged and the temporary
// file is removed. [WriteFile] is the one-call form.
//
// Temporary names start with [TempPrefix], so what a killed process left
// behind is recognisable; [RemoveStale] removes such leftovers once they are
// old enough that no live writer can own them.
//
// It imports nothing of strata's.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TempPrefix starts the name of every temporary file this package creates.
const TempPrefix = ".strata-tmp-"

// StaleAfter is how long a temporary file or directory must have been left
// untouched before RemoveStale removes it (a process killed mid-write cannot
// clean up after itself). Live writers touch theirs far more often.
const StaleAfter = 24 * time.Hour

// File is a file being written; Commit puts it in place, Abort discards it.
type File struct {
	f    *os.File
	n    int64
	wrap io.Writer
	done bool
}

// Create starts a temporary file in dir whose name starts with TempPrefix
// and pattern (os.CreateTemp's pattern rules).
func Create(dir, pattern string) (*File, error) {
	f, err := os.CreateTemp(dir, TempPrefix+pattern)
	if err != nil {
		return nil, err
	}
	claim(f)
	return &File{f: f}, nil
}

// Wrap makes every later Write go through wrap(the file) instead of straight
// to the file (a test seam: a writer that fails after N bytes).
func (f *File) Wrap(wrap func(io.Writer) io.Writer) {
	if wrap != nil {
		f.wrap = wrap(f.f)
	}
}

// Write appends p to the file.
func (f *File) Write(p []byte) (int, error) {
	w := io.Writer(f.f)
	if f.wrap != nil {
		w = f.wrap
	}
	n, err := w.Write(p)
	f.n += int64(n)
	return n, err
}

// Size returns how many bytes were written.
func (f *File) Size() int64 { return f.n }

// OS returns the underlying temporary file (for hints such as writeback;
// never close or rename it).
func (f *File) OS() *os.File { return f.f }

// Commit gives the file mode perm, syncs it, renames it to path and syncs
// path's directory. On failure the file is removed and path is unchanged.
func (f *File) Commit(path string, perm os.FileMode) error {
	if f.done {
		return fmt.Errorf("committing %s: already committed or aborted", path)
	}
	err := f.f.Chmod(perm)
	if err == nil {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.f.Name(), path)
	}
	if err != nil {
		f.done = true
		os.Remove(f.f.Name())
		return err
	}
	f.done = true
	return SyncDir(filepath.Dir(path))
}

// Abort discards the file. It is safe to call after Commit (then it does
// nothing), so `defer f.Abort()` is the usual pattern.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	os.Remove(f.f.Name())
}

// WriteFile writes path through fill, atomically (see the package comment).
// wrap, if not nil, wraps the file's writer (a test seam).
func WriteFile(path string, perm os.FileMode, fill func(io.Writer) error, wrap func(io.Writer) io.Writer) error {
	f, err := Create(filepath.Dir(path), filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer f.Abort()
	f.Wrap(wrap)
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Commit(path, perm)
}

// SyncDir fsyncs a directory so that renames into it survive a crash.
func SyncDir(dir string) error {
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

// OrphanAfter is how old a temporary file no live process claims must be
// before RemoveStale removes it (the margin covers the instant between a
// writer creating its file and claiming it).
const OrphanAfter = time.Minute

// RemoveStale removes the entries of dir whose names start with TempPrefix
// followed by prefix and that were last modified more than StaleAfter before
// now, or, for files, more than OrphanAfter before now when no live process
// holds them (a writer claims its temporary file with a shared flock until
// it closes it or dies, so a killed build's leftovers go at the next run).
// Errors are ignored: this is housekeeping.
func RemoveStale(dir, prefix string, now time.Time) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), TempPrefix+prefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		p := filepath.Join(dir, e.Name())
		age := now.Sub(fi.ModTime())
		if age > StaleAfter || (fi.Mode().IsRegular() && age > OrphanAfter && orphaned(p)) {
			os.RemoveAll(p)
		}
	}
}
