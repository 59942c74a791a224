package compose

// The reproducibility matrix of reliability.md §5 (R1–R7; R8's goldens are in
// examples_test.go, R6's process environment in
// cmd/strata/testdata/script/build_repro_env.txtar). Every case builds the
// same spec twice with one variation and compares every output byte: the
// layout's blobs and index.json, and the docker tarball.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/spec"
)

// reproSpecYAML is the fixture spec: globbed text and binary files, an
// executable, an empty directory, a declared dir and symlink, config maps.
const reproSpecYAML = `base: scratch
layers:
  - name: site
    files:
      - src: "site/**"
        dest: /srv/site/
        exclude: ["**/*.map"]
  - name: bin
    files:
      - src: bin/app
        dest: /usr/local/bin/app
    dirs:
      - {path: /var/cache/app, mode: "0750", owner: "101:101"}
    symlinks:
      - {path: /usr/bin/app, target: ../local/bin/app}
config:
  entrypoint: ["/usr/local/bin/app"]
  env: {ZED: "1", ALPHA: "2", MID: "3"}
  labels: {z.label: "1", a.label: "2"}
  ports: ["8080/tcp", "443/tcp"]
annotations: {org.opencontainers.image.title: repro, a.first: "x"}
tags: [v1]
`

// reproSpecYAMLReordered is reproSpecYAML with every map and key in another
// order (R7).
const reproSpecYAMLReordered = `tags: [v1]
annotations: {a.first: "x", org.opencontainers.image.title: repro}
config:
  ports: ["443/tcp", "8080/tcp"]
  labels: {a.label: "2", z.label: "1"}
  env: {MID: "3", ALPHA: "2", ZED: "1"}
  entrypoint: ["/usr/local/bin/app"]
layers:
  - name: site
    files:
      - exclude: ["**/*.map"]
        dest: /srv/site/
        src: "site/**"
  - files:
      - dest: /usr/local/bin/app
        src: bin/app
    symlinks:
      - {target: ../local/bin/app, path: /usr/bin/app}
    dirs:
      - {owner: "101:101", mode: "0750", path: /var/cache/app}
    name: bin
base: scratch
`

// reproSpecCUE is reproSpecYAML in CUE (R7).
const reproSpecCUE = `base: "scratch"
layers: [{
	name: "site"
	files: [{src: "site/**", dest: "/srv/site/", exclude: ["**/*.map"]}]
}, {
	name: "bin"
	files: [{src: "bin/app", dest: "/usr/local/bin/app"}]
	dirs: [{path: "/var/cache/app", mode: "0750", owner: "101:101"}]
	symlinks: [{path: "/usr/bin/app", target: "../local/bin/app"}]
}]
config: {
	entrypoint: ["/usr/local/bin/app"]
	env: {ZED: "1", ALPHA: "2", MID: "3"}
	labels: {"z.label": "1", "a.label": "2"}
	ports: ["8080/tcp", "443/tcp"]
}
annotations: {"org.opencontainers.image.title": "repro", "a.first": "x"}
tags: ["v1"]
`

// reproFile is one fixture file.
type reproFile struct {
	path string
	data []byte
	exec bool
}

// reproFiles returns the fixture tree: text, binary (PRNG) and an executable,
// nested directories and an excluded source map.
func reproFiles() []reproFile {
	rng := rand.New(rand.NewPCG(42, 42))
	bin := make([]byte, 200_000)
	for i := range bin {
		bin[i] = byte(rng.UintN(256))
	}
	var files []reproFile
	for i := range 20 {
		files = append(files, reproFile{path: fmt.Sprintf("site/page%02d.html", i), data: []byte(strings.Repeat(fmt.Sprintf("<p>page %d</p>\n", i), 50))})
	}
	files = append(files,
		reproFile{path: "site/css/main.css", data: []byte("body{margin:0}\n")},
		reproFile{path: "site/css/main.css.map", data: []byte("{}")},
		reproFile{path: "site/img/logo.bin", data: bin},
		reproFile{path: "site/deep/a/b/c/d.txt", data: []byte("deep\n")},
		reproFile{path: "site/ünïcødé name.txt", data: []byte("utf-8 name\n")},
		reproFile{path: "bin/app", data: []byte("#!/bin/sh\necho app\n"), exec: true},
	)
	return files
}

// reproCase describes how to create one fixture tree.
type reproCase struct {
	root     string // parent dir; "" for t.TempDir()
	reverse  bool   // create files in reverse order
	umask    int    // umask while creating (-1: leave alone)
	chown    bool   // chown everything to 1234:5678
	randTime bool   // random mtimes/atimes and a ctime bump
	specFile string // spec file name, default image.yaml
	specText string // default reproSpecYAML
}

// makeRepro creates a fixture context with its spec and returns the spec path.
func makeRepro(t *testing.T, c reproCase) string {
	t.Helper()
	root := c.root
	if root == "" {
		root = t.TempDir()
	}
	if c.umask >= 0 {
		old := syscall.Umask(c.umask)
		defer syscall.Umask(old)
	}
	files := reproFiles()
	if c.reverse {
		slices.Reverse(files)
	}
	for _, f := range files {
		full := filepath.Join(root, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(full), 0o777); err != nil {
			t.Fatal(err)
		}
		perm := os.FileMode(0o666)
		if f.exec {
			perm = 0o777
		}
		if err := os.WriteFile(full, f.data, perm); err != nil {
			t.Fatal(err)
		}
	}
	name, text := c.specFile, c.specText
	if name == "" {
		name = "image.yaml"
	}
	if text == "" {
		text = reproSpecYAML
	}
	specPath := filepath.Join(root, name)
	if err := os.WriteFile(specPath, []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if c.chown {
			if err := os.Lchown(p, 1234, 5678); err != nil {
				return err
			}
		}
		if c.randTime {
			at := time.Unix(rng.Int64N(2_000_000_000), rng.Int64N(1e9))
			mt := time.Unix(rng.Int64N(2_000_000_000), rng.Int64N(1e9))
			if err := os.Chtimes(p, at, mt); err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			// Bump the ctime: chmod away and back.
			if err := os.Chmod(p, info.Mode().Perm()^0o001); err != nil {
				return err
			}
			if err := os.Chmod(p, info.Mode().Perm()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return specPath
}

// reproOutput is everything one build wrote, by relative path → sha256.
type reproOutput struct {
	digest v1.Hash
	files  map[string]string
	res    *Result
	dir    string
}

// buildRepro loads specPath, builds it with a fresh cache and writes a layout
// and a tarball.
func buildRepro(t *testing.T, specPath string, opts ...Option) reproOutput {
	t.Helper()
	s, err := spec.Load(specPath, spec.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("loading %s: %v", specPath, err)
	}
	res, err := Build(context.Background(), s, t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("building %s: %v", specPath, err)
	}
	out := t.TempDir()
	tag, err := name.NewTag("strata.test/repro:v1")
	if err != nil {
		t.Fatal(err)
	}
	err = WriteOutputs(context.Background(), res, Outputs{
		LayoutDir:   filepath.Join(out, "oci"),
		LayoutRefs:  []string{"v1"},
		TarballPath: filepath.Join(out, "image.tar"),
		TarballRefs: []name.Tag{tag},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reproOutput{digest: res.Digest, files: hashTree(t, out), res: res, dir: out}
}

// hashTree returns relative path → sha256 of every regular file under dir.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		m[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sameOutputs fails the test, naming every differing file, unless a and b
// wrote the same bytes.
func sameOutputs(t *testing.T, what string, a, b reproOutput) {
	t.Helper()
	if a.digest != b.digest {
		t.Errorf("%s: digest %s != %s", what, a.digest, b.digest)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for k := range a.files {
			seen[k] = true
		}
		for k := range b.files {
			seen[k] = true
		}
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	}) {
		if a.files[k] != b.files[k] {
			t.Errorf("%s: output %s differs (%q vs %q)", what, k, a.files[k], b.files[k])
		}
	}
}

// layerHeaders returns the tar headers of every layer strata added.
func layerHeaders(t *testing.T, res *Result) []*tar.Header {
	t.Helper()
	img := res.Artifact.Image
	if img == nil {
		t.Fatal("want a single image")
	}
	var hdrs []*tar.Header
	for _, lr := range res.Platforms[0].Layers {
		l, err := img.LayerByDigest(lr.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			hdrs = append(hdrs, h)
		}
		rc.Close()
	}
	return hdrs
}

// TestRepro_SameInputTwice is R1: the same input twice gives the same bytes,
// and every entry has the fixed metadata.
func TestRepro_SameInputTwice(t *testing.T) {
	specPath := makeRepro(t, reproCase{umask: -1})
	created := time.Unix(1700000000, 0)
	a := buildRepro(t, specPath, WithCreated(created))
	b := buildRepro(t, specPath, WithCreated(created))
	sameOutputs(t, "R1 same input twice", a, b)
	for _, h := range layerHeaders(t, a.res) {
		if !h.ModTime.Equal(created) || h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("entry %s: mtime %v uname %q gname %q atime %v ctime %v", h.Name, h.ModTime, h.Uname, h.Gname, h.AccessTime, h.ChangeTime)
		}
		for k := range h.PAXRecords {
			if k != "path" && k != "linkpath" {
				t.Errorf("entry %s: unexpected PAX record %q", h.Name, k)
			}
		}
		wantUID := 0
		if h.Name == "var/cache/app/" || h.Name == "var/cache/app" {
			wantUID = 101
		}
		if h.Uid != wantUID || h.Gid != wantUID {
			t.Errorf("entry %s: uid:gid %d:%d, want %d:%d", h.Name, h.Uid, h.Gid, wantUID, wantUID)
		}
	}
	cf, err := a.res.Artifact.Image.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(cf, []byte(`"created":"2023-11-14T22:13:20Z"`)) {
		t.Errorf("config created is not SOURCE_DATE_EPOCH in RFC 3339 UTC: %s", cf)
	}
}

// TestRepro_TimestampsIgnored is R2: random mtimes, atimes and ctimes do not
// matter; the default time is the epoch, never the clock.
func TestRepro_TimestampsIgnored(t *testing.T) {
	a := buildRepro(t, makeRepro(t, reproCase{umask: -1, randTime: true}))
	b := buildRepro(t, makeRepro(t, reproCase{umask: -1, randTime: true}))
	sameOutputs(t, "R2 random file times", a, b)
	for _, h := range layerHeaders(t, a.res) {
		if h.ModTime.Unix() != 0 {
			t.Errorf("entry %s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
	}
	cf, _ := a.res.Artifact.Image.ConfigFile()
	if cf.Created.Unix() != 0 {
		t.Errorf("created = %v, want the epoch", cf.Created)
	}
}

// TestRepro_FileOrder is R3: creation order (readdir order on tmpfs is the
// reverse of it) does not matter; entries are sorted by path.
func TestRepro_FileOrder(t *testing.T) {
	parent := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		parent = "/dev/shm"
	}
	mk := func(reverse bool) string {
		root := t.TempDir()
		if parent != "" {
			var err error
			if root, err = os.MkdirTemp(parent, "strata-repro-"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(root) })
		}
		return makeRepro(t, reproCase{root: root, reverse: reverse, umask: -1})
	}
	a := buildRepro(t, mk(false))
	b := buildRepro(t, mk(true))
	sameOutputs(t, "R3 creation order", a, b)
	var names []string
	for _, h := range layerHeaders(t, a.res) {
		names = append(names, h.Name)
	}
	// Within each layer, names are sorted; check the first (site) layer.
	site := a.res.Platforms[0].Layers[0].Entries
	var targets []string
	for _, e := range site {
		targets = append(targets, e.Target)
	}
	if !slices.IsSorted(targets) {
		t.Errorf("site layer entries not sorted: %v", targets)
	}
	if len(names) == 0 {
		t.Error("no layer entries")
	}
}

// TestRepro_UmaskAndOwner is R4: umask 022 vs 002 and source files owned by
// another uid/gid give the same bytes; modes are normalised.
func TestRepro_UmaskAndOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("R4 needs root to chown the fixture (make test runs as root)")
	}
	a := buildRepro(t, makeRepro(t, reproCase{umask: 0o022}))
	b := buildRepro(t, makeRepro(t, reproCase{umask: 0o002, chown: true}))
	sameOutputs(t, "R4 umask and owner", a, b)
	for _, h := range layerHeaders(t, b.res) {
		if h.Mode&0o7000 != 0 {
			t.Errorf("entry %s: special bits %o", h.Name, h.Mode)
		}
		if h.Typeflag == tar.TypeReg {
			want := int64(0o644)
			if strings.HasSuffix(h.Name, "bin/app") {
				want = 0o755
			}
			if h.Mode != want {
				t.Errorf("entry %s: mode %o, want %o", h.Name, h.Mode, want)
			}
		}
	}
}

// TestRepro_BuildPath is R5: the context at another absolute path, loaded
// from another working directory with a relative path, gives the same bytes
// and no output contains either path.
func TestRepro_BuildPath(t *testing.T) {
	dirA := filepath.Join(t.TempDir(), "checkout-a")
	dirB := filepath.Join(t.TempDir(), "x", "y", "other-checkout")
	for _, d := range []string{dirA, dirB} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := buildRepro(t, makeRepro(t, reproCase{root: dirA, umask: -1}))
	makeRepro(t, reproCase{root: dirB, umask: -1})
	t.Chdir(filepath.Dir(dirB))
	b := buildRepro(t, filepath.Join(filepath.Base(dirB), "image.yaml"))
	sameOutputs(t, "R5 build path and cwd", a, b)
	for _, out := range []reproOutput{a, b} {
		for _, h := range layerHeaders(t, out.res) {
			if strings.Contains(h.Name, "checkout") || strings.Contains(h.Linkname, "checkout") {
				t.Errorf("entry %s leaks the build path", h.Name)
			}
		}
		err := filepath.WalkDir(out.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, leak := range []string{dirA, dirB, "checkout-a", "other-checkout"} {
				if bytes.Contains(data, []byte(leak)) {
					t.Errorf("%s contains the build path %q", p, leak)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestRepro_SpecEquivalence is R7: the same spec with keys in another order,
// and written in CUE, gives the same bytes.
func TestRepro_SpecEquivalence(t *testing.T) {
	a := buildRepro(t, makeRepro(t, reproCase{umask: -1}))
	b := buildRepro(t, makeRepro(t, reproCase{umask: -1, specText: reproSpecYAMLReordered}))
	c := buildRepro(t, makeRepro(t, reproCase{umask: -1, specFile: "image.cue", specText: reproSpecCUE}))
	sameOutputs(t, "R7 reordered YAML", a, b)
	sameOutputs(t, "R7 YAML vs CUE", a, c)
	cf, _ := a.res.Artifact.Image.ConfigFile()
	if !slices.Equal(cf.Config.Env, []string{"ALPHA=2", "MID=3", "ZED=1"}) {
		t.Errorf("env = %v, want sorted new keys", cf.Config.Env)
	}
}
