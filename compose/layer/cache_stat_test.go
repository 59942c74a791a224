//go:build linux

package layer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// statEnv is a cache test environment whose builds count the context files
// they open, and whose clock can make fresh files look old (not racy).
type statEnv struct {
	*testEnv
	mu     sync.Mutex
	opened []string
	late   bool // the build "starts" an hour from now: no input is racy
}

func (e *statEnv) run(t *testing.T) (*Built, []string) {
	t.Helper()
	req := e.request(cacheLayer)
	e.mu.Lock()
	e.opened = nil
	e.mu.Unlock()
	req.opened = func(src string) {
		e.mu.Lock()
		e.opened = append(e.opened, src)
		e.mu.Unlock()
	}
	if e.late {
		req.now = func() time.Time { return time.Now().Add(time.Hour) }
	}
	bl, err := Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	opened := slices.Clone(e.opened)
	slices.Sort(opened)
	return bl, opened
}

// records counts the store's layer records of a kind ("content", "stat",
// "shape"), or its blobs for "".
func records(t *testing.T, env *testEnv, kind string) int {
	t.Helper()
	prefix := filepath.Join("blobs", "sha256") + "/"
	if kind != "" {
		prefix = filepath.Join("layers", kind+"-")
	}
	n := 0
	for _, f := range env.storeFiles(t) {
		if strings.HasPrefix(f, prefix) {
			n++
		}
	}
	return n
}

// TestLayerCacheStatKey walks the two cache levels through the cases that
// decide their safety: an untouched tree reads nothing (stat hit), touched
// files and fresh copies are content hits, and an edit that keeps size and
// mtime is rebuilt.
func TestLayerCacheStatKey(t *testing.T) {
	if !ctimeTrusted(mustRoot(t, t.TempDir())) {
		t.Fatal("the test's temp directory is not on a filesystem with trusted ctimes (ext4, xfs, btrfs, tmpfs, overlayfs, zfs, f2fs)")
	}
	a := func(env *testEnv) string { return filepath.Join(env.dir, "src/a.txt") }
	tests := []struct {
		name       string
		change     func(t *testing.T, env *statEnv)
		wantOpened []string // nil: nothing read (stat hit)
		wantReuse  bool     // the stored layer is returned, nothing written
	}{
		{"untouched", func(t *testing.T, env *statEnv) {}, nil, true},
		// The untouched inputs keep the hash the sums record has for
		// them (sums.go): only the touched one is read.
		{"touched only", func(t *testing.T, env *statEnv) {
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(a(env.testEnv), later, later); err != nil {
				t.Fatal(err)
			}
		}, []string{"src/a.txt"}, true},
		{"chmod and back", func(t *testing.T, env *statEnv) {
			waitCtimeTick(t, a(env.testEnv))
			os.Chmod(a(env.testEnv), 0o600)
			os.Chmod(a(env.testEnv), 0o644)
		}, []string{"src/a.txt"}, true},
		{"fresh copy of the tree", func(t *testing.T, env *statEnv) {
			dir := filepath.Join(t.TempDir(), "copy")
			if err := os.CopyFS(dir, os.DirFS(env.dir)); err != nil {
				t.Fatal(err)
			}
			env.root.Close()
			env.dir, env.root = dir, mustRoot(t, dir)
		}, []string{"a.tar", "src/a.txt", "src/b.txt"}, true},
		{"edit with same size and mtime restored", func(t *testing.T, env *statEnv) {
			p := a(env.testEnv)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			waitCtimeTick(t, p)
			if err := os.WriteFile(p, []byte("AAAA"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			// The key pass reads the edited input (the others keep their
			// recorded hashes), the write pass every context file (the
			// archive is expanded, and checked against its hash, in a read
			// the hook does not count).
		}, []string{"src/a.txt", "src/a.txt", "src/b.txt"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &statEnv{testEnv: newCacheEnv(t), late: true}
			first, opened := env.run(t)
			// A cold build reads every input once.
			if want := []string{"src/a.txt", "src/b.txt"}; !slices.Equal(opened, want) {
				t.Errorf("cold build opened %v, want %v", opened, want)
			}
			if records(t, env.testEnv, recStat) != 1 || records(t, env.testEnv, recContent) != 1 || records(t, env.testEnv, recShape) != 1 {
				t.Fatalf("records after a cold build: %v", env.storeFiles(t))
			}
			tc.change(t, env)
			blobs := records(t, env.testEnv, "")
			second, opened := env.run(t)
			if !slices.Equal(opened, tc.wantOpened) {
				t.Errorf("rebuild opened %v, want %v", opened, tc.wantOpened)
			}
			d1, _, _ := digests(t, first)
			d2, _, _ := digests(t, second)
			nowBlobs := records(t, env.testEnv, "")
			if tc.wantReuse {
				if d1 != d2 || nowBlobs != blobs {
					t.Errorf("rebuild gave %s with %d blobs, want the stored %s with %d", d2, nowBlobs, d1, blobs)
				}
				if !slices.Equal(first.Entries, second.Entries) {
					t.Errorf("reused entries differ")
				}
			} else if d1 == d2 || nowBlobs != blobs+1 {
				t.Errorf("rebuild after an edit gave %s with %d blobs, want a new layer (was %s, %d blobs)", d2, nowBlobs, d1, blobs)
			}
			// Whatever the rebuild was, the next build of the same tree
			// reads nothing.
			third, opened := env.run(t)
			if len(opened) != 0 {
				t.Errorf("third build opened %v, want a stat hit", opened)
			}
			if d3, _, _ := digests(t, third); d3 != d2 {
				t.Errorf("third build %s, want %s", d3, d2)
			}
		})
	}
}

// TestLayerCacheRacy checks that inputs changed within racyWindow of the
// build's start are never trusted by their stat: no stat record is written,
// and rebuilds hash the inputs until it can be.
func TestLayerCacheRacy(t *testing.T) {
	env := &statEnv{testEnv: newCacheEnv(t)} // real clock: the fixture was just written
	first, opened := env.run(t)
	if want := []string{"src/a.txt", "src/b.txt"}; !slices.Equal(opened, want) {
		t.Errorf("cold build opened %v, want %v", opened, want)
	}
	if n := records(t, env.testEnv, recStat); n != 0 {
		t.Fatalf("%d stat records written for racy inputs", n)
	}
	second, opened := env.run(t)
	if want := []string{"a.tar", "src/a.txt", "src/b.txt"}; !slices.Equal(opened, want) {
		t.Errorf("rebuild of racy inputs opened %v, want the key pass %v", opened, want)
	}
	if n := records(t, env.testEnv, recStat); n != 0 {
		t.Fatalf("%d stat records written for racy inputs", n)
	}
	d1, _, _ := digests(t, first)
	if d2, _, _ := digests(t, second); d1 != d2 {
		t.Errorf("rebuild %s, want %s", d2, d1)
	}
	// Once the inputs are old enough, a content hit writes the stat record.
	env.late = true
	if _, opened = env.run(t); len(opened) != 3 {
		t.Errorf("rebuild opened %v, want the key pass", opened)
	}
	if n := records(t, env.testEnv, recStat); n != 1 {
		t.Fatalf("%d stat records after a non-racy content hit, want 1", n)
	}
	if _, opened = env.run(t); len(opened) != 0 {
		t.Errorf("rebuild opened %v, want a stat hit", opened)
	}
}

func mustRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestLayerCacheStatKeyPins checks that a stat hit skips reading a pinned
// archive only for the pin it was checked against: another pin is another
// key, and a wrong one fails as on a cold build.
func TestLayerCacheStatKeyPins(t *testing.T) {
	env := newCacheEnv(t)
	raw, err := os.ReadFile(filepath.Join(env.dir, "a.tar"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	pinned := func(pin string) Request {
		l := cacheLayer
		l.Files = slices.Clone(l.Files)
		l.Files[1].Sha256 = pin
		req := env.request(l)
		req.now = func() time.Time { return time.Now().Add(time.Hour) }
		return req
	}
	var opened []string
	build := func(req Request) error {
		opened = nil
		req.opened = func(src string) { opened = append(opened, src) }
		_, err := Build(context.Background(), req)
		return err
	}
	good := hex.EncodeToString(sum[:])
	if err := build(pinned(good)); err != nil {
		t.Fatal(err)
	}
	if err := build(pinned(good)); err != nil || len(opened) != 0 {
		t.Fatalf("rebuild with the same pin: err %v, opened %v; want a stat hit", err, opened)
	}
	bad := strings.Repeat("0", 64)
	err = build(pinned(bad))
	if err == nil || !strings.Contains(err.Error(), "a.tar has sha256 "+good+", want "+bad) {
		t.Fatalf("rebuild with a wrong pin: %v", err)
	}
}
