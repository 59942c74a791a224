package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ent is one tar entry of a test layer: a name ending in "/" is a
// directory, link makes a symlink (hard with hard).
type ent struct {
	name, body, link string
	hard             bool
}

func tarOf(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		switch {
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag, h.Size = tar.TypeDir, 0
		case e.link != "" && e.hard:
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, e.link, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil && h.Size > 0 {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readCount counts the opens of layers' bytes, by diffID.
type readCount struct{ n atomic.Int64 }

// countedLayer is a layer whose every open is counted.
type countedLayer struct {
	v1.Layer
	c *readCount
}

func (l countedLayer) Uncompressed() (io.ReadCloser, error) {
	l.c.n.Add(1)
	return l.Layer.Uncompressed()
}

func (l countedLayer) Compressed() (io.ReadCloser, error) {
	l.c.n.Add(1)
	return l.Layer.Compressed()
}

func layerOf(t testing.TB, c *readCount, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return countedLayer{l, c}
}

// elf is the start of an executable that is not a Go binary.
const elf = "\x7fELF not really"

// inventoryCases are images (layer tars, bottom first; the last added
// ones are strata's) that exercise every rule of the scanner.
func inventoryCases(t testing.TB) map[string]struct {
	tars  [][]byte
	added int
} {
	status := "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\nPackage: b\nStatus: install ok installed\nVersion: 2\nArchitecture: all\n"
	apk := "P:musl\nV:1.2\nA:x86_64\nL:MIT\no:musl\n\n"
	// The test binary is a Go binary with build information.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	base := tarOf(t, ent{name: "etc/"}, ent{name: "etc/os-release", body: "debian"}, ent{name: "var/lib/dpkg/"},
		ent{name: "var/lib/dpkg/status", body: status}, ent{name: "var/lib/dpkg/status.d/"},
		ent{name: "var/lib/dpkg/status.d/c", body: "Package: c\nVersion: 3\n"},
		ent{name: "var/lib/dpkg/status.d/c.md5sums", body: "x"},
		ent{name: "lib/apk/db/installed", body: apk})
	return map[string]struct {
		tars  [][]byte
		added int
	}{
		"files": {[][]byte{base, tarOf(t, ent{name: "srv/"}, ent{name: "srv/a", body: "a"}, ent{name: "srv/empty"},
			ent{name: "srv/tiny", body: "\x7fE"}, ent{name: "srv/elf", body: elf}, ent{name: "./srv/dot", body: "d"},
			ent{name: "/srv/abs", body: "abs"}, ent{name: "srv/sym", link: "a"}, ent{name: "srv/hard", link: "srv/a", hard: true})}, 1},
		"whiteout of a base database": {[][]byte{base, tarOf(t, ent{name: "var/lib/dpkg/.wh.status"}, ent{name: "srv/x", body: "x"})}, 1},
		"opaque base directory":       {[][]byte{base, tarOf(t, ent{name: "var/lib/dpkg/status.d/.wh..wh..opq"})}, 1},
		"opaque root":                 {[][]byte{base, tarOf(t, ent{name: ".wh..wh..opq"}, ent{name: "a", body: "a"})}, 1},
		"database replaced by a symlink": {[][]byte{base, tarOf(t, ent{name: "var/lib/dpkg/status", link: "elsewhere"},
			ent{name: "lib/apk/db/installed", body: "P:other\nV:9\n"})}, 1},
		"added layer deletes and replaces an earlier one's files": {[][]byte{base,
			tarOf(t, ent{name: "app/"}, ent{name: "app/a", body: "1"}, ent{name: "app/b", body: "2"}, ent{name: "app/d/"}, ent{name: "app/d/x", body: "3"}, ent{name: "keep", body: "k"}),
			tarOf(t, ent{name: "app/.wh.a"}, ent{name: "app/b/"}, ent{name: "app/.wh.d"}, ent{name: "keep", body: "new"}),
			tarOf(t, ent{name: "app/.wh..wh..opq"}, ent{name: "app/c", body: "c"})}, 3},
		"same layer adds then whites out": {[][]byte{tarOf(t, ent{name: "x", body: "x"}, ent{name: ".wh.x"}, ent{name: "y", body: "y"}, ent{name: "y/"})}, 1},
		"added database": {[][]byte{base, tarOf(t, ent{name: "var/lib/dpkg/status.d/z", body: "Package: z\nVersion: 26\n"},
			ent{name: "var/lib/dpkg/status", body: "Package: mine\nStatus: install ok installed\nVersion: 0\n"})}, 1},
		"odd whiteout names": {[][]byte{base, tarOf(t, ent{name: "var/lib/dpkg/.wh."}, ent{name: "var/.wh..wh.lib"}, ent{name: "lib/apk/.wh.db"})}, 1},
		"base layers replace and delete databases": {[][]byte{base,
			tarOf(t, ent{name: "var/lib/dpkg/status", link: "elsewhere"}, ent{name: "lib/apk/.wh.db"}, ent{name: "var/lib/dpkg/status.d/d", body: "Package: d\nVersion: 4\n"}),
			tarOf(t, ent{name: "var/lib/dpkg/status.d/d/"}),
			tarOf(t, ent{name: "srv/x", body: "x"})}, 1},
		"base only": {[][]byte{base, tarOf(t, ent{name: "var/lib/dpkg/status.d/.wh.c"})}, 0},
		"scratch": {[][]byte{tarOf(t, ent{name: "bin/", body: ""}, ent{name: "bin/tool", body: elf + strings.Repeat("x", 70000)},
			ent{name: "bin/go", body: string(self)})}, 1},
	}
}

func imageOf(t testing.TB, layers []v1.Layer) v1.Image {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// observe plays the layer engine: it shows w every entry of the tar b,
// its content in chunks of the given size, and its sha256.
func observe(t testing.TB, w *BlobWatch, b []byte, chunk int) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fw := w.Entry(h)
		if fw == nil {
			continue
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		// The first write is chunk bytes (an executable's magic may be
		// split), then 32 KiB at a time.
		for n := chunk; len(content) > 0; n = 32 << 10 {
			k := min(n, len(content))
			fw.Write(content[:k])
			content = content[k:]
		}
		w.EndFile(sum)
	}
	w.Commit(diffIDOf(b))
}

func diffIDOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// visit plays the base check: it shows v every entry of the tar b with a
// reader of its content, then Done.
func visit(t testing.TB, v *BaseVisit, b []byte) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Entry(h, tr); err != nil {
			t.Fatal(err)
		}
	}
	v.Done()
}

var testOptions = Options{Sources: map[string]string{"/srv/a": "ctx/a", "/app/c": "ctx/c"}}

// TestInventoriesMatchTheScanner: for every case, Scan lists what the
// scanner as it was lists, whether each layer is scanned, recorded while
// written (own layers, in chunks of any size) or while the base check read
// it (base layers), or loaded from the inventory files of an earlier
// command; and a layer whose inventory was recorded is never opened.
func TestInventoriesMatchTheScanner(t *testing.T) {
	ctx := context.Background()
	for name, c := range inventoryCases(t) {
		t.Run(name, func(t *testing.T) {
			var reads readCount
			layers := make([]v1.Layer, len(c.tars))
			for i, b := range c.tars {
				layers[i] = layerOf(t, &reads, b)
			}
			img := imageOf(t, layers)
			want, err := oracleScan(ctx, img, c.added, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			if name == "scratch" && (len(want.Files) != 2 || want.Files[0].Go == nil) {
				t.Fatalf("the test binary is not listed as a Go binary: %+v", want.Files)
			}
			check := func(what string, m *Memo, wantReads int64) {
				t.Helper()
				reads.n.Store(0)
				o := testOptions
				o.Memo = m
				got, err := Scan(ctx, img, c.added, o)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
				}
				if n := reads.n.Load(); n != wantReads {
					t.Errorf("%s: %d layer reads, want %d", what, n, wantReads)
				}
			}
			check("no memo", nil, int64(len(c.tars)))
			dir := t.TempDir()
			scanned := NewMemo(dir)
			check("scanned", scanned, int64(len(c.tars)))
			check("scanned, again", scanned, 0)
			check("a later command", NewMemo(dir), 0)

			for _, chunk := range []int{1, 2, 3, 1 << 20} {
				dir := t.TempDir()
				m := NewMemo(dir)
				nbase := len(c.tars) - c.added
				for i, b := range c.tars {
					if i < nbase {
						v := m.VisitBase(diffIDOf(b))
						if v == nil {
							t.Fatal("VisitBase of an unknown layer returned nil")
						}
						visit(t, v, b)
						if m.VisitBase(diffIDOf(b)) != nil {
							t.Error("VisitBase of a visited layer did not return nil")
						}
					} else {
						observe(t, m.Observe(), b, chunk)
					}
				}
				check("recorded", m, 0)
				check("recorded, a later command", NewMemo(dir), 0)
			}
		})
	}
}

// TestBaseVisitDoesNotServeAnAddedLayer: an inventory recorded by the base
// check (no file hashes) is not used for a layer strata added: that layer
// is read, and then listed as the scanner lists it.
func TestBaseVisitDoesNotServeAnAddedLayer(t *testing.T) {
	var reads readCount
	b := tarOf(t, ent{name: "a", body: "a"})
	img := imageOf(t, []v1.Layer{layerOf(t, &reads, b)})
	want, _ := oracleScan(context.Background(), img, 1, Options{})
	reads.n.Store(0)
	m := NewMemo("")
	visit(t, m.VisitBase(diffIDOf(b)), b)
	got, err := Scan(context.Background(), img, 1, Options{Memo: m})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || reads.n.Load() != 1 {
		t.Errorf("got %+v after %d reads, want %+v after 1", got, reads.n.Load(), want)
	}
	// An inventory read with another binary size limit is not used either.
	reads.n.Store(0)
	if _, err := Scan(context.Background(), img, 1, Options{Memo: m, MaxBinarySize: 10}); err != nil || reads.n.Load() != 1 {
		t.Errorf("another MaxBinarySize: %d reads, err %v; want 1 read", reads.n.Load(), err)
	}
}

// TestAbortedBlobRecordsNothing: a blob whose write was aborted leaves no
// inventory, so its layer is read.
func TestAbortedBlobRecordsNothing(t *testing.T) {
	var reads readCount
	b := tarOf(t, ent{name: "a", body: "a"})
	img := imageOf(t, []v1.Layer{layerOf(t, &reads, b)})
	m := NewMemo(t.TempDir())
	w := m.Observe()
	w.Entry(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Size: 1}).Write([]byte("a"))
	w.EndFile(sha256.Sum256([]byte("a")))
	w.Abort()
	w.Commit(diffIDOf(b)) // too late: aborted
	if _, err := Scan(context.Background(), img, 1, Options{Memo: m}); err != nil || reads.n.Load() != 1 {
		t.Errorf("%d reads, err %v; want the layer read once", reads.n.Load(), err)
	}
}

// TestCorruptInventoryFile: an inventory file that is missing, truncated,
// altered, for another layer, or not one at all gives the scanner's
// result, the layer read again (and the file written anew).
func TestCorruptInventoryFile(t *testing.T) {
	ctx := context.Background()
	c := inventoryCases(t)["added layer deletes and replaces an earlier one's files"]
	var reads readCount
	layers := make([]v1.Layer, len(c.tars))
	for i, b := range c.tars {
		layers[i] = layerOf(t, &reads, b)
	}
	img := imageOf(t, layers)
	want, err := oracleScan(ctx, img, c.added, Options{})
	if err != nil {
		t.Fatal(err)
	}
	top := diffIDOf(c.tars[len(c.tars)-1])
	other := diffIDOf(c.tars[0])
	damage := map[string]func(dir string, b []byte) []byte{
		"missing":   func(string, []byte) []byte { return nil },
		"empty":     func(string, []byte) []byte { return []byte{} },
		"truncated": func(_ string, b []byte) []byte { return b[:len(b)/2] },
		"flipped": func(_ string, b []byte) []byte {
			b = bytes.Clone(b)
			b[len(inventoryFormat)+5] ^= 1
			return b
		},
		"another layer's": func(dir string, _ []byte) []byte {
			b, err := os.ReadFile(inventoryPath(dir, other))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		"old format": func(_ string, b []byte) []byte {
			return append([]byte("strata-sbom-inventory 0\n"), b[len(inventoryFormat):]...)
		},
		"rehashed nonsense": func(string, []byte) []byte {
			body := inventoryFormat + `{"diffID":"` + top.String() + `","files":true,"maxBinarySize":1073741824,"ops":[{"k":"f","p":"x","sha256":"zz"}]}` + "\n"
			sum := sha256.Sum256([]byte(body))
			return []byte(body + "sha256 " + hex.EncodeToString(sum[:]) + "\n")
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Scan(ctx, img, c.added, Options{Memo: NewMemo(dir)}); err != nil {
				t.Fatal(err)
			}
			file := inventoryPath(dir, top)
			good, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if b := f(dir, good); b == nil {
				os.Remove(file)
			} else if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			reads.n.Store(0)
			got, err := Scan(ctx, img, c.added, Options{Memo: NewMemo(dir)})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if n := reads.n.Load(); n != 1 {
				t.Errorf("%d layer reads, want 1 (the damaged one)", n)
			}
			if b, _ := os.ReadFile(file); !bytes.Equal(b, good) {
				t.Error("the inventory file was not written anew")
			}
		})
	}
}
