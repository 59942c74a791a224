package layer

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/strata-build/strata/spec"
)

// recordingFS records every path that is opened, stat'ed or read.
type recordingFS struct {
	fsys fs.FS
	mu   sync.Mutex
	seen []string
}

func (r *recordingFS) note(op, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, op+" "+name)
}

func (r *recordingFS) Open(name string) (fs.File, error) {
	r.note("open", name)
	return r.fsys.Open(name)
}

func (r *recordingFS) Stat(name string) (fs.FileInfo, error) {
	r.note("stat", name)
	return fs.Stat(r.fsys, name)
}

func (r *recordingFS) Lstat(name string) (fs.FileInfo, error) {
	r.note("lstat", name)
	return fs.Lstat(r.fsys, name)
}

func (r *recordingFS) ReadLink(name string) (string, error) {
	r.note("readlink", name)
	return fs.ReadLink(r.fsys, name)
}

func (r *recordingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	r.note("readdir", name)
	return fs.ReadDir(r.fsys, name)
}

// TestIgnoringFSNeverTouchesIgnored: globs and walks through the ignoring
// view never open, stat or list an ignored path, and see exactly the paths
// docker's rules keep (issue 8, point 11).
func TestIgnoringFSNeverTouchesIgnored(t *testing.T) {
	ig, err := NewIgnore([]string{".git", "*.yaml", "**/*.log", "!keep/important.log", "secret"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingFS{fsys: fstest.MapFS{
		".git/HEAD":          {Data: []byte("ref")},
		".git/objects/ab/cd": {Data: []byte("x")},
		"image.yaml":         {Data: []byte("base: scratch")},
		"app/main.go":        {Data: []byte("package main")},
		"app/debug.log":      {Data: []byte("log")},
		"keep/important.log": {Data: []byte("keep")},
		"keep/other.log":     {Data: []byte("no")},
		"secret/key":         {Data: []byte("k")},
	}}
	view := ignoringFS{fsys: rec, ig: ig}
	got, err := doublestar.Glob(view, "**", doublestar.WithNoFollow(), doublestar.WithFailOnIOErrors())
	if err != nil {
		t.Fatal(err)
	}
	var walked []string
	if err := fs.WalkDir(view, ".", func(p string, d fs.DirEntry, err error) error {
		walked = append(walked, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{".", "app", "app/main.go", "keep", "keep/important.log"}
	slices.Sort(got)
	if !slices.Equal(got, want) || !slices.Equal(walked, want) {
		t.Errorf("glob ** = %q\nwalk = %q\nwant %q", got, walked, want)
	}
	for _, s := range rec.seen {
		name := s[strings.Index(s, " ")+1:]
		if ig.Ignored(name) && name != "keep" {
			t.Errorf("ignored path touched: %s", s)
		}
	}
}

// TestIgnoreInBuildAndKeys: a layer built with an ignore file leaves the
// ignored paths out, an ignored special file is never looked at, and the
// ignore file is part of the cache keys.
func TestIgnoreInBuildAndKeys(t *testing.T) {
	e := newEnv(t, []tfile{
		{path: "app/main.txt", content: "main", mode: 0o644},
		{path: "app/debug.log", content: "debug", mode: 0o644},
		{path: ".git/HEAD", content: "ref", mode: 0o644},
	})
	// A fifo would fail the build ("is a named pipe") if it were planned.
	if err := syscall.Mkfifo(e.dir+"/.git/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	l := spec.Layer{Files: []spec.File{{Src: ".", Dest: "/srv/"}}}
	if err := e.buildErr(t, l); err == nil || !strings.Contains(err.Error(), "named pipe") {
		t.Fatalf("without an ignore file: err = %v, want the fifo refused", err)
	}
	keys := map[string]bool{}
	for _, patterns := range [][]string{{".git", "*.log"}, {".git", "**/*.log"}} {
		ig, err := NewIgnore(patterns)
		if err != nil {
			t.Fatal(err)
		}
		req := e.request(l)
		req.Ignore = ig
		bl, err := Build(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var targets []string
		for _, en := range bl.Entries {
			targets = append(targets, en.Target)
		}
		wantTargets := "/srv/app/debug.log /srv/app/main.txt"
		if patterns[1] == "**/*.log" {
			wantTargets = "/srv/app/main.txt"
		}
		if strings.Join(targets, " ") != wantTargets {
			t.Errorf("%q: entries %q, want %s", patterns, targets, wantTargets)
		}
		p := &planner{req: req, layer: l, field: "layers[0]", realDirs: map[string]bool{}, fsys: ignoringFS{fsys: e.root.FS(), ig: ig}}
		if err := p.plan(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := p.buildKeyLines(); err != nil {
			t.Fatal(err)
		}
		k, _ := p.key(recStat)
		keys[k] = true
	}
	if len(keys) != 2 {
		t.Error("two ignore files gave the same stat key")
	}
}
