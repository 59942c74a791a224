package compose

// End-to-end checks with independent tools: umoci unpacks the OCI layouts
// strata writes (files, modes, owners, whiteouts, opaque dirs, links, base
// metadata that must survive), skopeo reads and copies the layout and the
// docker tarball, and ggcr's validate checks every output.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/gzip"

	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// tarEntry is one entry of a handmade tar.
type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	data     string
	link     string
	uid, gid int
}

// makeTar writes entries as a tar (gzipped when gz).
func makeTar(t testing.TB, entries []tarEntry, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Uid: e.uid, Gid: e.gid, ModTime: time.Unix(1, 0)}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// nginxLikeBase is a handmade base image with what real bases have: a
// merged-usr /lib symlink, a sticky /tmp, nginx config and html files.
func nginxLikeBase(t testing.TB, p spec.Platform) v1.Image {
	t.Helper()
	rootfs := makeTar(t, []tarEntry{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/motd", typ: tar.TypeReg, mode: 0o644, data: "base motd\n"},
		{name: "etc/nginx/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/nginx/conf.d/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/nginx/conf.d/default.conf", typ: tar.TypeReg, mode: 0o644, data: "server { listen 80; }\n"},
		{name: "etc/nginx/conf.d/keep.conf", typ: tar.TypeReg, mode: 0o644, data: "# keep\n"},
		{name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "usr/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/libc.so", typ: tar.TypeReg, mode: 0o755, data: "libc\n"},
		{name: "usr/share/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/share/nginx/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/share/nginx/html/", typ: tar.TypeDir, mode: 0o755, uid: 101, gid: 101},
		{name: "usr/share/nginx/html/50x.html", typ: tar.TypeReg, mode: 0o644, data: "<h1>50x</h1>\n"},
		{name: "usr/share/nginx/html/index.html", typ: tar.TypeReg, mode: 0o644, data: "<h1>Welcome to nginx!</h1>\n"},
	}, true)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: plainLayer{layer}, History: v1.History{CreatedBy: "handmade rootfs"}})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config = v1.Config{
		Entrypoint: []string{"/docker-entrypoint.sh"},
		Cmd:        []string{"nginx", "-g", "daemon off;"},
		Env:        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.27.0"},
		StopSignal: "SIGQUIT",
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

const e2eBaseRef = "registry.test/library/nginx:1.27"

// e2eSpec exercises every kind of entry.
const e2eSpec = `base: registry.test/library/nginx:1.27
layers:
  - name: site
    delete: [/etc/nginx/conf.d/default.conf]
    clear: [/usr/share/nginx/html]
    files:
      - src: "public/**"
        dest: /usr/share/nginx/html/
        owner: "101:101"
  - name: motd
    delete: [/etc/motd]
    files:
      - {src: motd, dest: /etc/motd, mode: "0600"}
  - name: beneath
    files:
      - {src: x, dest: /tmp/x}
      - {src: y, dest: /lib/y}
  - name: links
    files:
      - {src: pkg.tar.gz, dest: /opt/, extract: true}
    symlinks:
      - {path: /usr/local/bin/tool, target: /opt/pkg/bin/tool}
config:
  env: {APP_ENV: prod}
tags: [e2e]
`

// makeE2E writes the e2e context and spec and returns the spec path.
func makeE2E(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	fixture.WriteTree(t, dir, map[string]string{
		"image.yaml":        e2eSpec,
		"public/index.html": "<h1>strata</h1>\n",
		"public/css/a.css":  "a{}\n",
		"motd":              "new motd\n",
		"x":                 "in tmp\n",
		"y":                 "in lib\n",
	})
	archive := makeTar(t, []tarEntry{
		{name: "pkg/", typ: tar.TypeDir, mode: 0o755},
		{name: "pkg/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "pkg/bin/tool", typ: tar.TypeReg, mode: 0o755, data: "#!/bin/sh\n", uid: 1000, gid: 1000},
		{name: "pkg/bin/t", typ: tar.TypeSymlink, link: "tool"},
		{name: "pkg/lib/", typ: tar.TypeDir, mode: 0o755},
		{name: "pkg/lib/a.so", typ: tar.TypeReg, mode: 0o644, data: "shared object\n"},
		{name: "pkg/lib/a-link.so", typ: tar.TypeLink, mode: 0o644, link: "pkg/lib/a.so"}, // GNU tar gives a hard link its file's mode
	}, true)
	if err := os.WriteFile(filepath.Join(dir, "pkg.tar.gz"), archive, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "image.yaml")
}

// buildE2E builds the e2e spec on the handmade base and writes a layout
// (ref "e2e") and a docker tarball into a new directory.
func buildE2E(t *testing.T) (res *Result, layoutDir, tarPath string) {
	t.Helper()
	s, err := spec.Load(makeE2E(t), spec.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := nginxLikeBase(t, amd64)
	res, err = Build(context.Background(), s, t.TempDir(), WithBaseResolver(resolverFor(e2eBaseRef, base, nil)))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	layoutDir, tarPath = filepath.Join(out, "oci"), filepath.Join(out, "image.tar")
	tag, _ := name.NewTag("registry.test/app:e2e")
	if err := WriteOutputs(context.Background(), res, Outputs{LayoutDir: layoutDir, LayoutRefs: []string{"e2e"}, TarballPath: tarPath, TarballRefs: []name.Tag{tag}}); err != nil {
		t.Fatal(err)
	}
	return res, layoutDir, tarPath
}

func TestE2E_UmociUnpack(t *testing.T) {
	_, layoutDir, _ := buildE2E(t)
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, "umoci", "unpack", "--image", layoutDir+":e2e", bundle)
	rootfs := filepath.Join(bundle, "rootfs")

	type want struct {
		path     string
		content  string // for files
		mode     os.FileMode
		uid, gid int
	}
	for _, w := range []want{
		{"usr/share/nginx/html/index.html", "<h1>strata</h1>\n", 0o644, 101, 101},
		{"usr/share/nginx/html/css/a.css", "a{}\n", 0o644, 101, 101},
		{"etc/motd", "new motd\n", 0o600, 0, 0},
		{"etc/nginx/conf.d/keep.conf", "# keep\n", 0o644, 0, 0},
		{"tmp/x", "in tmp\n", 0o644, 0, 0},
		{"usr/lib/y", "in lib\n", 0o644, 0, 0},
		{"usr/lib/libc.so", "libc\n", 0o755, 0, 0},
		{"opt/pkg/bin/tool", "#!/bin/sh\n", 0o755, 0, 0},
		{"opt/pkg/lib/a.so", "shared object\n", 0o644, 0, 0},
	} {
		p := filepath.Join(rootfs, w.path)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", w.path, err)
			continue
		}
		if string(b) != w.content {
			t.Errorf("%s: content %q, want %q", w.path, b, w.content)
		}
		fi, _ := os.Lstat(p)
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != w.mode || int(st.Uid) != w.uid || int(st.Gid) != w.gid {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", w.path, fi.Mode(), st.Uid, st.Gid, w.mode, w.uid, w.gid)
		}
	}
	// delete removed a base path; clear emptied a base dir and kept it.
	for _, gone := range []string{"etc/nginx/conf.d/default.conf", "usr/share/nginx/html/50x.html"} {
		if _, err := os.Lstat(filepath.Join(rootfs, gone)); !os.IsNotExist(err) {
			t.Errorf("%s should be gone (lstat: %v)", gone, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "usr/share/nginx/html")); err != nil || !fi.IsDir() {
		t.Errorf("cleared dir usr/share/nginx/html must stay a directory: %v", err)
	}
	// Base metadata beneath which files were added survives.
	if fi, err := os.Lstat(filepath.Join(rootfs, "tmp")); err != nil || fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("/tmp: %v, %v; want drwxrwxrwt", fi.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(rootfs, "lib")); err != nil || l != "usr/lib" {
		t.Errorf("/lib must still be a symlink to usr/lib: %q, %v", l, err)
	}
	// Symlinks and hard links.
	if l, err := os.Readlink(filepath.Join(rootfs, "usr/local/bin/tool")); err != nil || l != "/opt/pkg/bin/tool" {
		t.Errorf("declared symlink: %q, %v", l, err)
	}
	if l, err := os.Readlink(filepath.Join(rootfs, "opt/pkg/bin/t")); err != nil || l != "tool" {
		t.Errorf("extracted symlink: %q, %v", l, err)
	}
	a, err1 := os.Stat(filepath.Join(rootfs, "opt/pkg/lib/a.so"))
	b, err2 := os.Stat(filepath.Join(rootfs, "opt/pkg/lib/a-link.so"))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Errorf("opt/pkg/lib/a-link.so must be a hard link to a.so (%v, %v)", err1, err2)
	}
	// The config reached the runtime bundle.
	var rt struct {
		Process struct{ Env []string } `json:"process"`
	}
	cfg, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cfg, &rt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rt.Process.Env, " "), "APP_ENV=prod") {
		t.Errorf("bundle env = %v, want APP_ENV=prod", rt.Process.Env)
	}
}

func TestE2E_SkopeoAndValidate(t *testing.T) {
	res, layoutDir, tarPath := buildE2E(t)
	// ggcr reads both outputs back and validates them.
	ii, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != res.Digest || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "e2e" {
		t.Fatalf("layout index.json = %+v, want one manifest %s named e2e", im.Manifests, res.Digest)
	}
	img, err := ii.Image(res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate layout image: %v", err)
	}
	timg, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(timg); err != nil {
		t.Errorf("validate tarball image: %v", err)
	}
	cfgDigest, _ := img.ConfigName()
	if tcfg, _ := timg.ConfigName(); tcfg != cfgDigest {
		t.Errorf("tarball config %s != layout config %s", tcfg, cfgDigest)
	}

	// skopeo inspects both and copies the layout keeping digests.
	var insp struct {
		Digest string
		Layers []string
		Env    []string
	}
	if err := json.Unmarshal([]byte(run(t, "skopeo", "inspect", "oci:"+layoutDir+":e2e")), &insp); err != nil {
		t.Fatal(err)
	}
	if insp.Digest != res.Digest.String() || len(insp.Layers) != 5 {
		t.Errorf("skopeo inspect layout: digest %s, %d layers; want %s and 5", insp.Digest, len(insp.Layers), res.Digest)
	}
	if err := json.Unmarshal([]byte(run(t, "skopeo", "inspect", "docker-archive:"+tarPath)), &insp); err != nil {
		t.Fatal(err)
	}
	if len(insp.Layers) != 5 || !strings.Contains(strings.Join(insp.Env, " "), "APP_ENV=prod") {
		t.Errorf("skopeo inspect tarball: %+v", insp)
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	run(t, "skopeo", "copy", "--preserve-digests", "oci:"+layoutDir+":e2e", "oci:"+copyDir+":e2e")
	cii, err := layout.ImageIndexFromPath(copyDir)
	if err != nil {
		t.Fatal(err)
	}
	cim, _ := cii.IndexManifest()
	if len(cim.Manifests) != 1 || cim.Manifests[0].Digest != res.Digest {
		t.Errorf("skopeo copy --preserve-digests changed the digest: %+v", cim.Manifests)
	}
	run(t, "skopeo", "copy", "docker-archive:"+tarPath, "oci:"+copyDir+":fromtar")
}
