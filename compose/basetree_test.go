package compose

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// tarEnt is one entry of a hand-made base layer: a name ending in "/" is a
// directory, link != "" a symlink (or a hard link with hard set).
type tarEnt struct {
	name, link string
	hard       bool
	mode       int64
}

// gzipTarLayer builds a gzip layer of ents.
func gzipTarLayer(t testing.TB, ents ...tarEnt) v1.Layer {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg}
		switch {
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case e.hard:
			h.Typeflag, h.Linkname = tar.TypeLink, e.link
		case e.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.link, 0o777
		}
		if e.mode != 0 {
			h.Mode = e.mode
		}
		var body []byte
		if h.Typeflag == tar.TypeReg {
			body = []byte("content of " + e.name + "\n")
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(tb.Bytes())
	zw.Close()
	blob := zb.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// countingLayer counts calls of Uncompressed.
type countingLayer struct {
	v1.Layer
	n *atomic.Int32
}

func (c countingLayer) Uncompressed() (io.ReadCloser, error) {
	c.n.Add(1)
	return c.Layer.Uncompressed()
}

// nginxBaseLayers are the layers of a small nginx-like base: the second
// layer whites out /etc/gone.conf and makes /var/cache/nginx opaque.
func nginxBaseLayers(t testing.TB) []v1.Layer {
	return []v1.Layer{
		gzipTarLayer(t,
			tarEnt{name: "./etc/"}, tarEnt{name: "./etc/nginx/"}, tarEnt{name: "./etc/nginx/conf.d/"},
			tarEnt{name: "./etc/nginx/conf.d/default.conf"},
			tarEnt{name: "./etc/gone.conf"},
			tarEnt{name: "./etc/hl", link: "etc/nginx/conf.d/default.conf", hard: true},
			tarEnt{name: "./usr/"}, tarEnt{name: "./usr/lib/"}, tarEnt{name: "./usr/lib/libc.so"},
			tarEnt{name: "./usr/share/"}, tarEnt{name: "./usr/share/nginx/"}, tarEnt{name: "./usr/share/nginx/html/"},
			tarEnt{name: "./usr/share/nginx/html/index.html"},
			tarEnt{name: "./lib", link: "usr/lib"},
			tarEnt{name: "./tmp/", mode: 0o1777},
			tarEnt{name: "./var/"}, tarEnt{name: "./var/cache/"}, tarEnt{name: "./var/cache/nginx/"},
			tarEnt{name: "./var/cache/nginx/old"},
			tarEnt{name: "../escape"}, // hostile: ignored
		),
		gzipTarLayer(t,
			tarEnt{name: "etc/.wh.gone.conf"},
			tarEnt{name: "var/cache/nginx/.wh..wh..opq"},
			tarEnt{name: "/etc/added.conf"},
		),
	}
}

// nginxBase is an image of nginxBaseLayers (wrapped to count reads when n
// is set).
func nginxBase(t testing.TB, n *atomic.Int32) v1.Image {
	t.Helper()
	return baseImageOf(t, amd64, n, nginxBaseLayers(t)...)
}

// baseImageOf is an image of layers for p.
func baseImageOf(t testing.TB, p spec.Platform, n *atomic.Int32, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := empty.Image
	for _, l := range layers {
		if n != nil {
			l = countingLayer{l, n}
		}
		var err error
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "base layer"}}); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

const nginxRef = "registry.example/nginx:1"

// buildOnNginx builds layers on nginxBase with a context holding a.txt.
func buildOnNginx(t *testing.T, cache string, base v1.Image, layers ...spec.Layer) (*Result, error) {
	t.Helper()
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"a.txt": "a\n", "b.txt": "b\n"})
	s := &spec.Spec{Base: nginxRef, Context: ctxDir, Layers: layers}
	return Build(context.Background(), s, cache, WithBaseResolver(resolverFor(nginxRef, base, nil)))
}

func add(dest string) spec.File { return spec.File{Src: "a.txt", Dest: dest} }

func TestBaseTreeRules(t *testing.T) {
	base := nginxBase(t, nil)
	cache := t.TempDir()
	for _, tt := range []struct {
		name   string
		layers []spec.Layer
		want   string // "" for success
	}{
		{"file under a base file", []spec.Layer{{Files: []spec.File{add("/etc/nginx/conf.d/default.conf/x")}}},
			"layers[0].files[0].dest: /etc/nginx/conf.d/default.conf/x: /etc/nginx/conf.d/default.conf is a file in the base; delete it first or choose another path"},
		{"dir under a base file", []spec.Layer{{Dirs: []spec.Dir{{Path: "/etc/nginx/conf.d/default.conf/d"}}}},
			"layers[0].dirs[0].path: /etc/nginx/conf.d/default.conf/d: /etc/nginx/conf.d/default.conf is a file in the base; delete it first or choose another path"},
		{"deep under a base hard link", []spec.Layer{{Files: []spec.File{{Src: "a.txt", Dest: "/x"}, add("/etc/hl/a/b")}}},
			"layers[0].files[1].dest: /etc/hl/a/b: /etc/hl is a hard link in the base; delete it first or choose another path"},
		{"under a file of an earlier layer", []spec.Layer{
			{Name: "first", Files: []spec.File{add("/opt/app")}},
			{Files: []spec.File{add("/opt/app/x")}}},
			`layers[1].files[0].dest: /opt/app/x: /opt/app is a file in layer "first" (layers[0]); delete it first or choose another path`},
		{"clear of a base file", []spec.Layer{{Clear: []string{"/etc/nginx/conf.d/default.conf"}}},
			"layers[0].clear[0]: clear needs a directory; /etc/nginx/conf.d/default.conf is a file in the base: use delete"},
		{"clear of a base symlink", []spec.Layer{{Clear: []string{"/lib"}}},
			"layers[0].clear[0]: clear needs a directory; /lib is a symlink (to usr/lib) in the base: use delete"},
		{"delete typo", []spec.Layer{{Delete: []string{"/etc/nginx/conf.d/defualt.conf"}}},
			"layers[0].delete[0]: delete /etc/nginx/conf.d/defualt.conf: no such path in the base or earlier layers (did you mean /etc/nginx/conf.d/default.conf?)"},
		{"delete typo in a parent", []spec.Layer{{Delete: []string{"/usr/shar/nginx/html/index.html"}}},
			"layers[0].delete[0]: delete /usr/shar/nginx/html/index.html: no such path in the base or earlier layers (did you mean /usr/share/nginx/html/index.html?)"},
		{"clear of a missing dir", []spec.Layer{{Clear: []string{"/srv/www"}}},
			"layers[0].clear[0]: clear /srv/www: no such path in the base or earlier layers"},
		{"delete of a path an upper base layer whited out", []spec.Layer{{Delete: []string{"/etc/gone.conf"}}},
			"layers[0].delete[0]: delete /etc/gone.conf: no such path in the base or earlier layers"},
		{"delete below an opaque base dir", []spec.Layer{{Delete: []string{"/var/cache/nginx/old"}}},
			"layers[0].delete[0]: delete /var/cache/nginx/old: no such path in the base or earlier layers"},
		{"delete of a path an earlier layer deleted", []spec.Layer{
			{Delete: []string{"/etc/added.conf"}}, {Delete: []string{"/etc/added.conf"}}},
			"layers[1].delete[0]: delete /etc/added.conf: no such path in the base or earlier layers"},
		{"a declared dir over a base symlink", []spec.Layer{{Dirs: []spec.Dir{{Path: "/lib"}}}},
			"layers[0].dirs[0].path: /lib: the directory would replace a symlink (to usr/lib) in the base; add below its target instead, or delete /lib first"},
		{"add below a base file reached through a symlink", []spec.Layer{{Dirs: []spec.Dir{{Path: "/lib/libc.so/q"}}}},
			"layers[0].dirs[0].path: /lib/libc.so/q: /usr/lib/libc.so is a file in the base; delete it first or choose another path"},
		{"clear of a symlink an earlier layer added below", []spec.Layer{{Files: []spec.File{add("/lib/foo")}}, {Clear: []string{"/lib"}}},
			"layers[1].clear[0]: clear needs a directory; /lib is a symlink (to usr/lib) in the base: use delete"},
		{"delete of a path deleted through a symlink earlier", []spec.Layer{{Delete: []string{"/lib/libc.so"}}, {Delete: []string{"/usr/lib/libc.so"}}},
			"layers[1].delete[0]: delete /usr/lib/libc.so: no such path in the base or earlier layers"},
		{"a symlink loop on the way", []spec.Layer{{Symlinks: []spec.Symlink{{Path: "/a", Target: "b"}, {Path: "/b", Target: "a"}}}, {Dirs: []spec.Dir{{Path: "/a/x"}}}},
			"layers[1].dirs[0].path: /a/x: its parent /a does not resolve: too many levels of symbolic links"},
		{"delete below a base file", []spec.Layer{{Delete: []string{"/etc/nginx/conf.d/default.conf/x"}}},
			"layers[0].delete[0]: delete /etc/nginx/conf.d/default.conf/x: no such path in the base or earlier layers"},
		{"all problems are listed", []spec.Layer{{Delete: []string{"/nope", "/etc/nginx/conf.d/default.conf"}, Clear: []string{"/nada"}}},
			"layers[0].clear[0]: clear /nada: no such path in the base or earlier layers\nlayers[0].delete[0]: delete /nope: no such path in the base or earlier layers"},

		{"add under a base symlink", []spec.Layer{{Files: []spec.File{add("/lib/y")}}}, ""},
		{"add into /tmp", []spec.Layer{{Files: []spec.File{add("/tmp/x")}}}, ""},
		{"delete then add a file", []spec.Layer{{Delete: []string{"/etc/nginx/conf.d/default.conf"}, Files: []spec.File{add("/etc/nginx/conf.d/default.conf")}}}, ""},
		{"delete a file then add below it", []spec.Layer{{Delete: []string{"/etc/nginx/conf.d/default.conf"}, Files: []spec.File{add("/etc/nginx/conf.d/default.conf/x")}}}, ""},
		{"delete an ancestor then add below a file", []spec.Layer{{Delete: []string{"/etc/nginx"}, Files: []spec.File{add("/etc/nginx/conf.d/default.conf/x")}}}, ""},
		{"delete a path an earlier layer added", []spec.Layer{{Files: []spec.File{add("/opt/app")}}, {Delete: []string{"/opt/app"}}}, ""},
		{"add below a file an earlier layer deleted", []spec.Layer{{Delete: []string{"/etc/hl"}}, {Files: []spec.File{add("/etc/hl/x")}}}, ""},
		{"clear a base dir and refill it", []spec.Layer{{Clear: []string{"/usr/share/nginx/html"}, Files: []spec.File{add("/usr/share/nginx/html/index.html")}}}, ""},
		{"delete through a base symlink", []spec.Layer{{Delete: []string{"/lib/libc.so"}}}, ""},
		{"delete a base symlink", []spec.Layer{{Delete: []string{"/lib"}}}, ""},
		{"add through a symlink, then delete a base file through it", []spec.Layer{{Files: []spec.File{add("/lib/foo")}}, {Delete: []string{"/lib/libc.so"}}}, ""},
		{"add through a symlink, then delete it by its real path", []spec.Layer{{Files: []spec.File{add("/lib/foo")}}, {Delete: []string{"/usr/lib/foo"}}}, ""},
		{"delete through a symlink, then add a dir at the real path", []spec.Layer{{Delete: []string{"/lib/libc.so"}}, {Dirs: []spec.Dir{{Path: "/usr/lib/libc.so/x"}}}}, ""},
		// The whiteout etc/nginx/conf.d/.wh.default.conf sorts after
		// etc/alt.conf/x: when x is unpacked the file is still there.
		{"delete a file after adding below a symlink to it", []spec.Layer{
			{Symlinks: []spec.Symlink{{Path: "/etc/alt.conf", Target: "nginx/conf.d/default.conf"}}},
			{Delete: []string{"/etc/nginx/conf.d/default.conf"}, Files: []spec.File{add("/etc/alt.conf/x")}}},
			"layers[1].files[0].dest: /etc/alt.conf/x: /etc/nginx/conf.d/default.conf is a file in the base; delete it first or choose another path"},
		// Here the whiteout etc/nginx/.wh.zz sorts before etc/nginx/zz-link/x.
		{"delete a file before adding below a symlink to it", []spec.Layer{
			{Files: []spec.File{add("/etc/nginx/zz")}, Symlinks: []spec.Symlink{{Path: "/etc/nginx/zz-link", Target: "zz"}}},
			{Delete: []string{"/etc/nginx/zz"}, Files: []spec.File{add("/etc/nginx/zz-link/x")}}}, ""},
		// usr/lib/.wh.libc.so sorts after lib/libc.so/x: when x is
		// unpacked through /lib, /usr/lib/libc.so is still a file.
		{"delete by the real path and add below through the symlink", []spec.Layer{{Delete: []string{"/usr/lib/libc.so"}, Dirs: []spec.Dir{{Path: "/lib/libc.so/x"}}}},
			"layers[0].dirs[0].path: /lib/libc.so/x: /usr/lib/libc.so is a file in the base; delete it first or choose another path"},
		{"delete a base symlink and declare a dir there", []spec.Layer{{Delete: []string{"/lib"}, Dirs: []spec.Dir{{Path: "/lib"}}}}, ""},
		{"declare the symlink's target dir", []spec.Layer{{Dirs: []spec.Dir{{Path: "/usr/lib"}}}}, ""},
		{"delete a file an upper base layer added", []spec.Layer{{Delete: []string{"/etc/added.conf"}}}, ""},
		{"replace a base file by a directory", []spec.Layer{{Dirs: []spec.Dir{{Path: "/etc/nginx/conf.d/default.conf"}}, Files: []spec.File{add("/etc/nginx/conf.d/default.conf/x")}}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildOnNginx(t, cache, base, tt.layers...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				return
			}
			var el spec.ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("Build error %v (%T), want a spec.ErrorList", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("Build error:\n%s\nwant:\n%s", err, tt.want)
			}
		})
	}
}

// TestBaseTreePlatforms checks each platform against its own base; a
// problem on some platforms only names them.
func TestBaseTreePlatforms(t *testing.T) {
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"a.txt": "a\n"})
	idx := indexOf(t, func(t *testing.T, p spec.Platform) v1.Image {
		if p == amd64 {
			return nginxBase(t, nil)
		}
		return baseImageOf(t, p, nil, gzipTarLayer(t, tarEnt{name: "etc/"}, tarEnt{name: "etc/os-release"}))
	}, amd64, arm64)
	s := &spec.Spec{Base: nginxRef, Context: ctxDir, Platforms: []string{"linux/amd64", "linux/arm64"},
		Layers: []spec.Layer{{Delete: []string{"/etc/nginx/conf.d/default.conf", "/nope"}}}}
	_, err := Build(context.Background(), s, t.TempDir(), WithBaseResolver(resolverFor(nginxRef, nil, idx)))
	want := "layers[0].delete[0]: delete /etc/nginx/conf.d/default.conf: no such path in the base or earlier layers [platform linux/arm64]\n" +
		"layers[0].delete[1]: delete /nope: no such path in the base or earlier layers"
	if err == nil || err.Error() != want {
		t.Errorf("Build error:\n%v\nwant:\n%s", err, want)
	}
}

func TestBaseTreeScratch(t *testing.T) {
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"a.txt": "a\n"})
	s := &spec.Spec{Base: "scratch", Context: ctxDir, Layers: []spec.Layer{
		{Files: []spec.File{add("/etc/app.conf")}},
		{Delete: []string{"/etc/app.conf", "/etc/app.cnf"}},
	}}
	_, err := Build(context.Background(), s, t.TempDir())
	want := "layers[1].delete[1]: delete /etc/app.cnf: no such path in earlier layers (the base is scratch) (did you mean /etc/app.conf?)"
	if err == nil || err.Error() != want {
		t.Errorf("Build error:\n%v\nwant:\n%s", err, want)
	}
}

// TestBaseTreeCached checks that a rebuild reads no base layer: the header
// index is cached by diffID, and a spec without layers reads nothing.
func TestBaseTreeCached(t *testing.T) {
	var n atomic.Int32
	base := nginxBase(t, &n)
	cache := t.TempDir()
	if _, err := buildOnNginx(t, cache, base); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("a spec without layers read %d base layers", got)
	}
	layer := spec.Layer{Delete: []string{"/etc/nginx/conf.d/default.conf"}, Files: []spec.File{add("/etc/nginx/conf.d/site.conf")}}
	if _, err := buildOnNginx(t, cache, base, layer); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("first build read base layers %d times, want 2", got)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "treeindex", "sha256-*.gz"))
	if len(files) != 2 {
		t.Errorf("tree index files %v, want one per base layer", files)
	}
	n.Store(0)
	if _, err := buildOnNginx(t, cache, base, layer); err != nil {
		t.Fatal(err)
	}
	// The cached index gives the same answers.
	_, err := buildOnNginx(t, cache, base, spec.Layer{Delete: []string{"/etc/gone.conf"}})
	if want := "delete /etc/gone.conf: no such path"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error from the cached index = %v, want %q", err, want)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("rebuild read base layers %d times, want 0", got)
	}
	// A corrupt index file is rebuilt, not trusted.
	for _, f := range files {
		if err := os.WriteFile(f, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := buildOnNginx(t, cache, base, layer); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("build with corrupt indexes read base layers %d times, want 2", got)
	}
}

// TestBaseTreeUmoci unpacks an image that replaces a base file by a
// directory and deletes and adds through the base's /lib → usr/lib: it
// must unpack, with the new files in place, the deleted one gone and /lib
// still a symlink (umoci resolves the symlink, as the checks assume).
func TestBaseTreeUmoci(t *testing.T) {
	res, err := buildOnNginx(t, t.TempDir(), nginxBase(t, nil), spec.Layer{
		Delete: []string{"/etc/nginx/conf.d/default.conf", "/lib/libc.so"},
		Files:  []spec.File{add("/etc/nginx/conf.d/default.conf/x"), add("/lib/y")},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteOutputs(context.Background(), res, Outputs{LayoutDir: dir, LayoutRefs: []string{"app"}}); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	args := []string{"unpack"}
	if os.Getuid() != 0 {
		args = append(args, "--rootless")
	}
	run(t, "umoci", append(args, "--image", dir+":app", bundle)...)
	rootfs := filepath.Join(bundle, "rootfs")
	for p, want := range map[string]string{"etc/nginx/conf.d/default.conf/x": "a\n", "usr/lib/y": "a\n", "usr/share/nginx/html/index.html": "content of ./usr/share/nginx/html/index.html\n"} {
		if b, err := os.ReadFile(filepath.Join(rootfs, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "usr/lib/libc.so")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("usr/lib/libc.so survived delete /lib/libc.so: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(rootfs, "lib")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("/lib is no longer a symlink: %v %v", fi, err)
	}
}

// viaLayout writes img to an OCI layout and reads it back, so its manifest
// is what a real base's raw manifest would be (mutate.Append leaves an empty
// annotation map in the layer descriptors that the raw manifest omits).
func viaLayout(t testing.TB, img v1.Image) v1.Image {
	t.Helper()
	p, err := layout.Write(t.TempDir(), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
