package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/spec"
)

// tfile describes a fixture path: content for files, link for symlinks,
// dir for directories.
type tfile struct {
	path    string
	content string
	mode    os.FileMode
	link    string
	dir     bool
}

// makeTree creates files under dir in the given order.
func makeTree(t testing.TB, dir string, files []tfile) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case f.dir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if f.mode != 0 {
				if err := os.Chmod(p, f.mode); err != nil {
					t.Fatal(err)
				}
			}
		case f.link != "":
			if err := os.Symlink(f.link, p); err != nil {
				t.Fatal(err)
			}
		default:
			m := f.mode
			if m == 0 {
				m = 0o644
			}
			if err := os.WriteFile(p, []byte(f.content), m); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, m); err != nil { // umask-proof
				t.Fatal(err)
			}
		}
	}
}

// testEnv is a context directory and a blob store.
type testEnv struct {
	dir   string
	root  *os.Root
	store *blobstore.Store
}

func newEnv(t testing.TB, files []tfile) *testEnv {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ctx")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	makeTree(t, dir, files)
	return openEnv(t, dir)
}

func openEnv(t testing.TB, dir string) *testEnv {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	store, err := blobstore.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{dir: dir, root: root, store: store}
}

var testCreated = time.Unix(1700000000, 0).UTC()

// request builds the request for the only layer of a spec with layer l.
func (e *testEnv) request(l spec.Layer) Request {
	s := &spec.Spec{Base: "scratch", Layers: []spec.Layer{l}}
	return Request{
		Spec:     s,
		Index:    0,
		Root:     e.root,
		Platform: spec.Platform{OS: "linux", Architecture: "amd64"},
		Created:  testCreated,
		Store:    e.store,
	}
}

func (e *testEnv) build(t testing.TB, l spec.Layer) *Built {
	t.Helper()
	bl, err := Build(context.Background(), e.request(l))
	if err != nil {
		t.Fatalf("buildLayer: %v", err)
	}
	return bl
}

func (e *testEnv) buildErr(t testing.TB, l spec.Layer) error {
	t.Helper()
	bl, err := Build(context.Background(), e.request(l))
	if err == nil {
		t.Fatalf("buildLayer succeeded with %d entries, want an error", len(bl.Entries))
	}
	return err
}

// storeFiles lists every file in the store (blobs, temp files, records).
func (e *testEnv) storeFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	filepath.Walk(e.store.Dir(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(e.store.Dir(), p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// tentry is a tar entry read back.
type tentry struct {
	hdr     *tar.Header
	content string
}

// readLayer reads every entry of bl's layer with archive/tar, checking the
// header invariants every entry must satisfy.
func readLayer(t testing.TB, bl *Built) []tentry {
	t.Helper()
	if bl.Layer == nil {
		t.Fatal("layer is nil")
	}
	rc, err := bl.Layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	return readTar(t, rc)
}

func readTar(t testing.TB, r io.Reader) []tentry {
	t.Helper()
	tr := tar.NewReader(r)
	var out []tentry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, tr); err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(testCreated) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, testCreated)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: atime %v ctime %v, want zero", h.Name, h.AccessTime, h.ChangeTime)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: uname %q gname %q, want empty", h.Name, h.Uname, h.Gname)
		}
		// xattrs would be SCHILY.xattr.* PAX records; only long or
		// non-ASCII names may need a PAX record.
		if len(h.PAXRecords) > 0 && !(len(h.PAXRecords) == 1 && h.PAXRecords["path"] != "" || len(h.PAXRecords) == 1 && h.PAXRecords["linkpath"] != "") {
			t.Errorf("%s: unexpected PAX records %v", h.Name, h.PAXRecords)
		}
		out = append(out, tentry{hdr: h, content: b.String()})
	}
}

// summary renders entries as "name type mode uid:gid [->link] [=content]"
// lines for table assertions.
func summary(es []tentry) []string {
	var out []string
	for _, e := range es {
		h := e.hdr
		var s string
		switch h.Typeflag {
		case tar.TypeReg:
			s = "file"
		case tar.TypeDir:
			s = "dir"
		case tar.TypeSymlink:
			s = "symlink"
		case tar.TypeLink:
			s = "hardlink"
		default:
			s = string(h.Typeflag)
		}
		line := fmt.Sprintf("%s %s %04o %d:%d", h.Name, s, h.Mode, h.Uid, h.Gid)
		if h.Linkname != "" {
			line += " ->" + h.Linkname
		}
		if h.Typeflag == tar.TypeReg && e.content != "" {
			line += " =" + e.content
		}
		out = append(out, line)
	}
	return out
}

func diffLines(t testing.TB, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func mustHash(t testing.TB, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitCtimeTick returns once the filesystem clock has moved past the ctime
// and mtime of every given file, so that changing one of them gives it new
// times (timestamps move in clock ticks; a change in the tick of the file's
// creation would keep them). It polls a probe file next to the first one.
func waitCtimeTick(t testing.TB, paths ...string) {
	t.Helper()
	var newest int64
	for _, p := range paths {
		newest = max(newest, fileTime(t, p))
	}
	probe := filepath.Join(filepath.Dir(paths[0]), ".ctime-probe")
	defer os.Remove(probe)
	for range 1000 {
		if err := os.WriteFile(probe, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if fileTime(t, probe) > newest {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the filesystem clock did not advance in 1000 polls")
}

// fileTime is the later of a file's ctime (where reported) and mtime.
func fileTime(t testing.TB, p string) int64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := statOf(fi)
	return max(st.ctime, st.mtime)
}
