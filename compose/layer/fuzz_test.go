package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/spec"
)

// fuzzNames are the path components fuzz inputs pick from; the last slot
// takes raw bytes from the input instead.
var fuzzNames = []string{"a", "b", "a-b", "a.b", "Z", "ü", "dir", "x y", "..a", ".hidden",
	strings.Repeat("n", 100), "+", "~", "é.txt", "a/b"}

// fuzzSpec is a decoded fuzz input: a context tree and declared entries.
type fuzzSpec struct {
	files    []tfile
	dirs     []spec.Dir
	symlinks []spec.Symlink
	deletes  []string
	suspect  bool // a raw name that the build may rightly reject
}

// decodeFuzz turns bytes into at most 64 entries: kind, a 1-3 component
// path, mode bits, a size up to 4 KiB and a link target.
func decodeFuzz(data []byte) fuzzSpec {
	var fs fuzzSpec
	seen := map[string]bool{}
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	name := func() string {
		depth := int(next()%3) + 1
		var parts []string
		for range depth {
			i := int(next()) % (len(fuzzNames) + 1)
			if i < len(fuzzNames) {
				parts = append(parts, fuzzNames[i])
				continue
			}
			n := int(next() % 8)
			var raw []byte
			for range n {
				c := next()
				if c != 0 && c != '/' {
					raw = append(raw, c)
				}
			}
			s := string(raw)
			if s == "" || s == "." || s == ".." {
				s = "r"
			}
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) ||
				strings.HasPrefix(s, ".wh.") || strings.Contains(s, `\`) {
				fs.suspect = true
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "/")
	}
	for i := 0; i < 64 && len(data) > 0; i++ {
		kind := next() % 7
		n := name()
		mode := os.FileMode(next()) & 0o777
		size := (int(next())<<8 | int(next())) % 4097
		switch kind {
		case 0, 1:
			if seen[n] {
				continue
			}
			seen[n] = true
			content := bytes.Repeat([]byte{byte(i), byte(size)}, size/2+1)[:size]
			fs.files = append(fs.files, tfile{path: n, content: string(content), mode: mode | 0o400})
		case 2:
			if seen[n] {
				continue
			}
			seen[n] = true
			fs.files = append(fs.files, tfile{path: n, dir: true})
		case 3:
			if seen[n] {
				continue
			}
			seen[n] = true
			fs.files = append(fs.files, tfile{path: n, link: name()})
		case 4:
			fs.dirs = append(fs.dirs, spec.Dir{Path: "/decl/" + n, Mode: "0750"})
		case 5:
			fs.deletes = append(fs.deletes, "/gone/"+n)
		case 6:
			fs.symlinks = append(fs.symlinks, spec.Symlink{Path: "/decl/" + n, Target: name()})
		}
	}
	return fs
}

// FuzzLayerRoundTrip builds a layer from a fuzzed tree twice and checks the
// invariants of reliability.md §6: identical bytes, every header
// normalised, no duplicates, parents before children, every context file
// and symlink present with its content.
func FuzzLayerRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x00\x01\xa4\x00\x10\x01\x01\x02\x03\xff\x00\x02\x03\x01\x00\x00\x00\x05\x00\x06\x00\x01\x02"))
	f.Add([]byte("\x03\x01\x00\x01\x01\x00\x00\x00\x00\x07\x00\x00\x00\x00"))
	f.Add([]byte("\x00\x02\x0f\x03\x41\x0a\x42\xed\x00\x00\x01\x04\x02\x05\x06\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := decodeFuzz(data)
		dir := filepath.Join(t.TempDir(), "ctx")
		os.Mkdir(dir, 0o755)
		var made []tfile
		for _, tf := range fs.files {
			p := filepath.Join(dir, filepath.FromSlash(tf.path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				continue // a parent is a file or symlink: skip
			}
			var err error
			switch {
			case tf.dir:
				err = os.Mkdir(p, 0o755)
			case tf.link != "":
				err = os.Symlink(tf.link, p)
			default:
				err = os.WriteFile(p, []byte(tf.content), tf.mode)
			}
			if err == nil {
				made = append(made, tf)
			}
		}
		l := spec.Layer{
			Files:    []spec.File{{Src: "**", Dest: "/ctx/", Optional: true}},
			Dirs:     fs.dirs,
			Symlinks: fs.symlinks,
			Delete:   fs.deletes,
		}
		// The second build is a dry run: same digests, nothing stored.
		var layers [2]*Built
		for i := range layers {
			env := openEnv(t, dir)
			req := env.request(l)
			req.DryRun = i == 1
			bl, err := Build(context.Background(), req)
			if err != nil {
				if fs.suspect || strings.Contains(err.Error(), "two sources for") || strings.Contains(err.Error(), "not a directory") || strings.Contains(err.Error(), "bytes long") {
					return
				}
				t.Fatalf("build failed: %v", err)
			}
			layers[i] = bl
		}
		if layers[0].Layer == nil {
			if len(made) > 0 || len(fs.dirs)+len(fs.symlinks)+len(fs.deletes) > 0 {
				t.Fatalf("no layer for %d files, %d dirs, %d deletes", len(made), len(fs.dirs), len(fs.deletes))
			}
			return
		}
		d0, _ := layers[0].Layer.Digest()
		d1, _ := layers[1].Layer.Digest()
		i0, _ := layers[0].Layer.DiffID()
		i1, _ := layers[1].Layer.DiffID()
		if d0 != d1 || i0 != i1 {
			t.Fatalf("two builds differ: %s %s vs %s %s", d0, i0, d1, i1)
		}
		if err := validate.Layer(layers[0].Layer); err != nil {
			t.Fatalf("validate.Layer: %v", err)
		}
		es := readLayer(t, layers[0])
		names := map[string]*tar.Header{}
		var prev string
		for i, e := range es {
			n := strings.TrimSuffix(e.hdr.Name, "/")
			if names[n] != nil {
				t.Fatalf("duplicate entry %q", n)
			}
			names[n] = e.hdr
			key := (&layerEntry{target: n}).sortKey()
			if b := path.Base(n); strings.HasPrefix(b, ".wh.") {
				if b == OpaqueName {
					key = (&layerEntry{target: path.Dir(n), kind: kindOpaque}).sortKey()
				} else {
					key = (&layerEntry{target: path.Join(path.Dir(n), strings.TrimPrefix(b, ".wh.")), kind: kindWhiteout}).sortKey()
				}
			}
			if i > 0 && key <= prev {
				t.Fatalf("entry %q out of order", n)
			}
			prev = key
			for a := path.Dir(n); a != "."; a = path.Dir(a) {
				if h := names[a]; h == nil {
					if slices.ContainsFunc(es[i+1:], func(x tentry) bool { return strings.TrimSuffix(x.hdr.Name, "/") == a }) {
						t.Fatalf("parent %q after child %q", a, n)
					}
				} else if h.Typeflag != tar.TypeDir {
					t.Fatalf("%q is below non-directory %q", n, a)
				}
			}
		}
		for _, tf := range made {
			h := names[path.Join("ctx", tf.path)]
			switch {
			case tf.dir:
				continue // emitted only when empty
			case h == nil:
				if _, err := os.Lstat(filepath.Join(dir, tf.path)); err == nil && !underSymlinkOrFile(dir, tf.path) {
					t.Fatalf("%s missing from the layer", tf.path)
				}
			case tf.link != "" && (h.Typeflag != tar.TypeSymlink || h.Linkname != tf.link):
				t.Fatalf("%s: got %c -> %q, want symlink -> %q", tf.path, h.Typeflag, h.Linkname, tf.link)
			}
		}
		for _, e := range es {
			if e.hdr.Typeflag == tar.TypeReg && strings.HasPrefix(e.hdr.Name, "ctx/") {
				want, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(e.hdr.Name, "ctx/")))
				if err != nil || string(want) != e.content {
					t.Fatalf("%s: content differs from the source (%v)", e.hdr.Name, err)
				}
			}
		}
	})
}

// underSymlinkOrFile reports whether a parent of rel inside dir is not a
// real directory (then rel was never created or is not reachable).
func underSymlinkOrFile(dir, rel string) bool {
	for a := path.Dir(rel); a != "."; a = path.Dir(a) {
		fi, err := os.Lstat(filepath.Join(dir, a))
		if err != nil || !fi.IsDir() {
			return true
		}
	}
	return false
}
