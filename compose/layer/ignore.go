package layer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// IgnoreFile is the name of the ignore file at the root of a build context.
const IgnoreFile = ".strataignore"

// maxIgnoreSize bounds the ignore file strata reads.
const maxIgnoreSize = 1 << 20

// Ignore is a context's ignore file: paths it matches are invisible to
// every src glob and directory walk, as if they were not in the context.
// The syntax is .dockerignore's (github.com/moby/patternmatcher): one
// pattern per line relative to the context root, # comments, * ? [...] and
// ** wildcards, a leading ! re-includes, the last matching line wins, and a
// matched directory hides everything below it. A nil *Ignore ignores
// nothing. It is safe for concurrent use.
type Ignore struct {
	mu  sync.Mutex // the matcher is not safe for concurrent use
	pm  *patternmatcher.PatternMatcher
	sum [sha256.Size]byte // of the cleaned patterns, for cache keys
}

// ReadIgnore reads the ignore file at the root of the context root; it
// returns nil and no error when there is none.
func ReadIgnore(root *os.Root) (*Ignore, error) {
	f, err := root.Open(IgnoreFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", IgnoreFile, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", IgnoreFile, err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file", IgnoreFile)
	} else if fi.Size() > maxIgnoreSize {
		return nil, fmt.Errorf("reading %s: %d bytes; at most %d are allowed", IgnoreFile, fi.Size(), maxIgnoreSize)
	}
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", IgnoreFile, err)
	}
	return NewIgnore(patterns)
}

// NewIgnore returns the Ignore for patterns in .dockerignore syntax, as
// ReadIgnore gives them (already cleaned).
func NewIgnore(patterns []string) (*Ignore, error) {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IgnoreFile, err)
	}
	return &Ignore{pm: pm, sum: sha256.Sum256([]byte(strings.Join(patterns, "\n")))}, nil
}

// Ignored reports whether the context path p (slash-separated, relative to
// the context root) is ignored, itself or through a directory above it.
func (ig *Ignore) Ignored(p string) bool {
	if ig == nil || p == "." || p == "" {
		return false
	}
	ig.mu.Lock()
	defer ig.mu.Unlock()
	ok, err := ig.pm.MatchesOrParentMatches(p)
	return err == nil && ok
}

// mayReinclude reports whether a ! pattern may bring back a path below the
// ignored directory dir, which must then still be walked: as docker does,
// when a ! pattern starts with dir's path.
func (ig *Ignore) mayReinclude(dir string) bool {
	if ig == nil || !ig.pm.Exclusions() {
		return false
	}
	for _, p := range ig.pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

// keyText is the ignore file's part of the layer cache keys: "" without
// one, so contexts without an ignore file keep their keys.
func (ig *Ignore) keyText() string {
	if ig == nil {
		return ""
	}
	return fmt.Sprintf("\nignore %x", ig.sum)
}

// ignoringFS is the context as the globs and walks see it: ignored paths
// do not exist. An ignored file is never opened, stat'ed or read; an
// ignored directory is walked only when a ! pattern may re-include
// something below it.
type ignoringFS struct {
	fsys fs.FS
	ig   *Ignore
}

var (
	_ fs.ReadDirFS  = ignoringFS{}
	_ fs.StatFS     = ignoringFS{}
	_ fs.ReadLinkFS = ignoringFS{}
)

// hidden reports whether name must look absent; a path that is ignored
// but may be a directory holding re-included paths is checked with one
// lstat.
func (f ignoringFS) hidden(name string) bool {
	if !f.ig.Ignored(name) {
		return false
	}
	if !f.ig.mayReinclude(name) {
		return true
	}
	fi, err := fs.Lstat(f.fsys, name)
	return err != nil || !fi.IsDir()
}

func (f ignoringFS) notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (f ignoringFS) Open(name string) (fs.File, error) {
	if f.hidden(name) {
		return nil, f.notExist("open", name)
	}
	return f.fsys.Open(name)
}

func (f ignoringFS) Stat(name string) (fs.FileInfo, error) {
	if f.hidden(name) {
		return nil, f.notExist("stat", name)
	}
	return fs.Stat(f.fsys, name)
}

func (f ignoringFS) Lstat(name string) (fs.FileInfo, error) {
	if f.hidden(name) {
		return nil, f.notExist("lstat", name)
	}
	return fs.Lstat(f.fsys, name)
}

func (f ignoringFS) ReadLink(name string) (string, error) {
	if f.hidden(name) {
		return "", f.notExist("readlink", name)
	}
	return fs.ReadLink(f.fsys, name)
}

// ReadDir lists dir without its ignored entries, telling directories from
// files by the directory entry's type (no stat).
func (f ignoringFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	if f.hidden(dir) {
		return nil, f.notExist("readdir", dir)
	}
	des, err := fs.ReadDir(f.fsys, dir)
	out := des[:0]
	for _, d := range des {
		p := path.Join(dir, d.Name())
		if f.ig.Ignored(p) && !(d.IsDir() && f.ig.mayReinclude(p)) {
			continue
		}
		out = append(out, d)
	}
	return out, err
}
