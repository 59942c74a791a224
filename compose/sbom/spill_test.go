package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/atomicfile"
)

// A Go binary of spillMin bytes or more is kept in a temporary file of the
// memo's directory while its build information is read, not in memory: the
// inventory is the one an in-memory read gives, the read allocates far
// less than the binary's size, and no temporary file is left, whether the
// layer is read by the scanner or observed while written, completed or
// aborted.
func TestLargeExecutablesAreNotHeldInMemory(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(self) < 4*spillMin {
		t.Fatalf("the test binary (%d bytes) is too small for this test", len(self))
	}
	want := readGoBinary(self)
	if want == nil {
		t.Fatal("the test binary has no build information")
	}
	b := tarOf(t, ent{name: "bin/"}, ent{name: "bin/go", body: string(self)}, ent{name: "bin/notgo", body: elf + strings.Repeat("x", 2*spillMin)})
	var rc readCount
	l := layerOf(t, &rc, b)
	goBin := func(inv *layerInv) *GoBinary {
		for _, o := range inv.ops {
			if o.path == "bin/go" {
				return o.goBin
			}
		}
		return nil
	}
	leftovers := func(dir string) []string {
		ents, _ := os.ReadDir(dir)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}

	for _, dir := range []string{"", t.TempDir()} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		inv, err := scanInventory(context.Background(), l, true, defaultMaxBinarySize, dir)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if got := goBin(inv); got == nil || got.GoVersion != want.GoVersion || got.Path != want.Path || !slices.EqualFunc(got.Deps, want.Deps, func(a, b Module) bool { return a == b }) {
			t.Errorf("dir %q: build information %+v, want %+v", dir, got, want)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		if dir == "" && alloc < uint64(len(self)) {
			t.Errorf("in memory: %d bytes allocated, expected at least the binary's %d (is the test still meaningful?)", alloc, len(self))
		}
		if dir != "" {
			if alloc > uint64(len(self))/4 {
				t.Errorf("spilled: %d bytes allocated for a %d-byte binary", alloc, len(self))
			}
			if l := leftovers(dir); len(l) != 0 {
				t.Errorf("left in %s: %v", dir, l)
			}
		}
	}

	// Observed while written: the same, and an aborted blob (its file cut
	// in the middle) leaves nothing either.
	dir := t.TempDir()
	m := NewMemo(dir)
	w := m.Observe()
	observe(t, w, b, 3)
	if got := goBin(m.get(diffIDOf(b), true, defaultMaxBinarySize)); got == nil || got.GoVersion != want.GoVersion {
		t.Errorf("observed: build information %+v, want %+v", got, want)
	}
	w = m.Observe()
	fw := w.Entry(tarHeader(t, b, "bin/go"))
	fw.Write(self[:2*spillMin])
	w.Abort()
	if l := leftovers(dir); len(l) != 1 || !strings.HasPrefix(l[0], "sha256-") {
		t.Errorf("after an aborted blob %s holds %v, want only the inventory file", dir, l)
	}
}

// tarHeader is the header of name in the tar b.
func tarHeader(t *testing.T, b []byte, name string) *tar.Header {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the tar: %v", name, err)
		}
		if h.Name == name {
			return h
		}
	}
}

// A spill file a killed process left behind (unclaimed, over a minute
// old) is removed the first time a Memo of that directory spills.
func TestLeftoverSpillFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, atomicfile.TempPrefix+spillPrefix+"killed")
	fresh := filepath.Join(dir, atomicfile.TempPrefix+spillPrefix+"live")
	inv := filepath.Join(dir, "sha256-"+strings.Repeat("a", 64))
	for _, p := range []string{old, fresh, inv} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-2 * atomicfile.OrphanAfter)
	if err := os.Chtimes(old, then, then); err != nil {
		t.Fatal(err)
	}
	NewMemo(dir).Observe().Abort()
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the killed process's spill file is still there (%v)", err)
	}
	for _, p := range []string{fresh, inv} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}

// failAfter is a writer that takes n bytes, then fails (a disk filling up).
type failAfter struct {
	w io.Writer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("no space left on device")
	}
	k := min(len(p), f.n)
	n, err := f.w.Write(p[:k])
	f.n -= n
	if err == nil && k < len(p) {
		err = errors.New("no space left on device")
	}
	return n, err
}

// A spill file that cannot be written any more moves what it holds back
// to memory: the build information is the same, the inventory is kept,
// and no file is left.
func TestSpillWriteFailureFallsBackToMemory(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	want := readGoBinary(self)
	b := tarOf(t, ent{name: "bin/"}, ent{name: "bin/go", body: string(self)})
	dir := t.TempDir()
	m := NewMemo(dir)
	w := m.Observe()
	w.rec.wrapSpill = func(f io.Writer) io.Writer { return &failAfter{w: f, n: spillMin + 12345} }
	observe(t, w, b, 3)
	inv := m.get(diffIDOf(b), true, defaultMaxBinarySize)
	if inv == nil {
		t.Fatal("the inventory was not kept")
	}
	var got *GoBinary
	for _, o := range inv.ops {
		if o.path == "bin/go" {
			got = o.goBin
		}
	}
	if got == nil || got.GoVersion != want.GoVersion || got.Path != want.Path || len(got.Deps) != len(want.Deps) {
		t.Errorf("build information %+v, want %+v", got, want)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), atomicfile.TempPrefix) {
			t.Errorf("left %s", e.Name())
		}
	}
}
