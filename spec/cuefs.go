package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// moduleRoot returns the directory CUE loading is confined to for a spec in
// dir: the nearest directory at or above dir that holds cue.mod (the CUE
// module), else dir itself.
func moduleRoot(dir string) string {
	for d := dir; ; {
		if fi, err := os.Stat(filepath.Join(d, "cue.mod")); err == nil && fi.IsDir() {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// cueFS is the file system CUE specs are loaded through: rooted at the
// module root with os.Root, so no path or symlink (of a .cue file, a
// cue.mod file or an @embed) reaches outside it, and refusing to open
// anything but directories and regular files, so a FIFO or a device cannot
// hang or feed the loader. overlay holds bytes already read, by slash path
// relative to the root.
type cueFS struct {
	root    *os.Root
	fsys    fs.FS // root.FS()
	overlay map[string][]byte
}

var (
	_ fs.StatFS    = (*cueFS)(nil)
	_ fs.ReadDirFS = (*cueFS)(nil)
)

func (c *cueFS) Open(name string) (fs.File, error) {
	if b, ok := c.overlay[name]; ok {
		return &memFile{name: path.Base(name), r: bytes.NewReader(b), size: int64(len(b))}, nil
	}
	fi, err := fs.Stat(c.fsys, name)
	if err != nil {
		return nil, c.explain(name, err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("not a regular file (strata reads only regular files and directories while loading a CUE spec)")}
	}
	f, err := c.fsys.Open(name)
	if err != nil {
		return nil, c.explain(name, err)
	}
	return f, nil
}

func (c *cueFS) Stat(name string) (fs.FileInfo, error) {
	if b, ok := c.overlay[name]; ok {
		return memInfo{name: path.Base(name), size: int64(len(b))}, nil
	}
	fi, err := fs.Stat(c.fsys, name)
	return fi, c.explain(name, err)
}

func (c *cueFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(c.fsys, name)
	return ents, c.explain(name, err)
}

// explain rewords os.Root's escape error so a user sees which rule bit.
func (c *cueFS) explain(name string, err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if strings.Contains(err.Error(), "escapes from parent") {
		return &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("leads outside %s (a path or symlink leaving the CUE module is refused)", c.root.Name())}
	}
	return err
}

// memFile is an overlay file.
type memFile struct {
	name string
	r    *bytes.Reader
	size int64
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{name: f.name, size: f.size}, nil }
func (f *memFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *memFile) Close() error               { return nil }

var _ io.Reader = (*memFile)(nil)

// memInfo describes an overlay file.
type memInfo struct {
	name string
	size int64
}

func (m memInfo) Name() string       { return m.name }
func (m memInfo) Size() int64        { return m.size }
func (m memInfo) Mode() fs.FileMode  { return 0o444 }
func (m memInfo) ModTime() time.Time { return time.Time{} }
func (m memInfo) IsDir() bool        { return false }
func (m memInfo) Sys() any           { return nil }
