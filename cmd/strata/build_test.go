package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestSourceDateEpoch(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"0", 0, true},
		{"1700000000", 1700000000, true},
		{"0001700000000", 1700000000, true},
		{"8589934591", 8589934591, true},
		{"8589934592", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1.5", 0, false},
		{"0x10", 0, false},
		{"abc", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, err := sourceDateEpoch(tt.in)
		if tt.ok {
			if err != nil || !got.Equal(time.Unix(tt.want, 0)) || got.Location() != time.UTC {
				t.Errorf("sourceDateEpoch(%q) = %v, %v; want %d UTC", tt.in, got, err, tt.want)
			}
			continue
		}
		want := `SOURCE_DATE_EPOCH="` + tt.in + `": want an integer number of seconds from 0 to 8589934591`
		if err == nil || err.Error() != want || exitCode(err) != exitUsage {
			t.Errorf("sourceDateEpoch(%q) error = %v (exit %d); want %q (exit 2)", tt.in, err, exitCode(err), want)
		}
	}
}

// runStrata runs one command line in-process with env (KEY=VALUE).
func runStrata(t *testing.T, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	env = append([]string{"HOME=" + filepath.Join(dir, "home"), "XDG_CACHE_HOME=" + filepath.Join(dir, "cache")}, env...)
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb, env)
	return code, out.String(), errb.String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const cliSpec = `base: scratch
layers:
  - name: hello
    files:
      - {src: hello.txt, dest: /hello.txt}
config:
  env: {A: "1"}
`

func TestBuildExitCodes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"image.yaml":  cliSpec,
		"hello.txt":   "hello\n",
		"bad.yaml":    "base: scratch\nlayers:\n  - files:\n      - {src: missing.txt, dest: /m}\n",
		"typo.yaml":   "base: scratch\nlayerz: []\n",
		"nobase.yaml": "base: oci:nolayout\nlayers:\n  - files:\n      - {src: hello.txt, dest: /h}\n",
	})
	oci := filepath.Join(dir, "oci")
	for _, tt := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"bad SOURCE_DATE_EPOCH", []string{"SOURCE_DATE_EPOCH=yesterday"}, []string{"build", "--oci", oci}, 2,
			`strata: SOURCE_DATE_EPOCH="yesterday": want an integer number of seconds from 0 to 8589934591`},
		{"SOURCE_DATE_EPOCH out of range", []string{"SOURCE_DATE_EPOCH=8589934592"}, []string{"plan"}, 2,
			`SOURCE_DATE_EPOCH="8589934592": want an integer number of seconds from 0 to 8589934591`},
		{"bad --jobs", nil, []string{"build", "--jobs", "0", "--oci", oci}, 2, "--jobs must be at least 1, got 0"},
		{"bad --set", nil, []string{"build", "--set", "novalue", "--oci", oci}, 2, `--set "novalue": want KEY=VALUE`},
		{"bad spec", nil, []string{"build", "--oci", oci, "typo.yaml"}, 2, "typo.yaml"},
		{"missing source", nil, []string{"build", "--oci", oci, "bad.yaml"}, 2,
			`bad.yaml:4:15: layers[0].files[0].src: "missing.txt" matched nothing in the context`},
		{"base not found", nil, []string{"build", "--oci", oci, "nobase.yaml"}, 1, "nolayout"},
		{"missing spec file", nil, []string{"plan", "nope.yaml"}, 2, "nope.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runStrata(t, dir, tt.env, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and stderr containing %q", code, stdout, stderr, tt.code, tt.stderr)
			}
			if _, err := os.Stat(oci); !os.IsNotExist(err) {
				t.Errorf("a failed build wrote %s", oci)
			}
		})
	}
}

func TestPlanDigestEqualsBuild(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"image.yaml": cliSpec, "hello.txt": "hello\n"})
	var plan, build buildReport
	env := []string{"SOURCE_DATE_EPOCH=1700000000"}
	code, stdout, stderr := runStrata(t, dir, env, "plan", "--json")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache")); !os.IsNotExist(err) {
		t.Errorf("plan created the cache directory")
	}
	code, stdout, stderr = runStrata(t, dir, env, "build", "--json", "--oci", filepath.Join(dir, "oci"))
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &build); err != nil {
		t.Fatalf("build --json: %v\n%s", err, stdout)
	}
	if plan.Digest == "" || plan.Digest != build.Digest {
		t.Errorf("plan digest %q != build digest %q", plan.Digest, build.Digest)
	}
	if len(plan.Platforms) != 1 || len(plan.Platforms[0].Layers) != 1 || plan.Platforms[0].Layers[0].Digest != build.Platforms[0].Layers[0].Digest {
		t.Errorf("plan layers %+v, build layers %+v", plan.Platforms, build.Platforms)
	}
	if len(plan.Platforms[0].Layers[0].Entries) == 0 || len(build.Platforms[0].Layers[0].Entries) != 0 {
		t.Errorf("entries: plan must list them, build must not")
	}
	want := "oci:" + filepath.Join(dir, "oci") + ":latest"
	if len(build.Outputs) != 1 || build.Outputs[0] != want {
		t.Errorf("outputs = %v, want [%s]", build.Outputs, want)
	}
}

// TestReadmeMainJob runs the README's first command, `strata build
// image.yaml.example`, offline with an empty cache and no XDG variables: it
// must write the default store under $HOME and print the golden digest.
func TestReadmeMainJob(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string]struct{ Digest string }
	b, err := os.ReadFile(filepath.Join(repo, "compose", "testdata", "golden", "examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	t.Chdir(repo)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"build", "image.yaml.example"}, strings.NewReader(""), &out, &errb, []string{"HOME=" + home})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := golden["image.yaml.example"].Digest
	if want == "" || strings.TrimSpace(out.String()) != want {
		t.Errorf("digest %q, want the golden %q", out.String(), want)
	}
	store := filepath.Join(home, ".local", "share", "strata", "oci")
	if _, err := os.Stat(filepath.Join(store, "index.json")); err != nil {
		t.Errorf("default store: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, ".cache", "strata")); err != nil {
		t.Errorf("default cache: %v", err)
	}
	if !strings.Contains(errb.String(), "wrote oci:"+store+":latest") {
		t.Errorf("stderr %q does not name the store", errb.String())
	}
}

// TestBuildHostileNothingWritten feeds hostile inputs through the CLI and
// checks that existing outputs keep their bytes and no new output appears.
func TestBuildHostileNothingWritten(t *testing.T) {
	dir := t.TempDir()
	evil := makeTarFile(t, "../../etc/evil", "x")
	if err := os.WriteFile(filepath.Join(dir, "evil.tar"), evil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "good.tar"), makeTarFile(t, "ok.txt", "ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "etcdir")); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"hello.txt":    "hello\n",
		"good.yaml":    cliSpec,
		"archive.yaml": "base: scratch\nlayers:\n  - files:\n      - {src: evil.tar, dest: /opt/, extract: true}\n",
		"fifo.yaml":    "base: scratch\nlayers:\n  - files:\n      - {src: fifo, dest: /fifo}\n",
		"link.yaml":    "base: scratch\nlayers:\n  - files:\n      - {src: etcdir/passwd, dest: /passwd}\n",
		"sha.yaml":     "base: scratch\nlayers:\n  - files:\n      - {src: good.tar, dest: /opt/, extract: true, sha256: \"" + strings.Repeat("0", 64) + "\"}\n",
	})
	oci, tarPath := filepath.Join(dir, "oci"), filepath.Join(dir, "image.tar")
	if code, _, stderr := runStrata(t, dir, nil, "build", "--oci", oci, "--tarball", tarPath, "good.yaml"); code != 0 {
		t.Fatalf("good build: exit %d: %s", code, stderr)
	}
	before := snapshot(t, dir)
	for _, bad := range []string{"archive.yaml", "fifo.yaml", "link.yaml", "sha.yaml"} {
		t.Run(bad, func(t *testing.T) {
			code, stdout, stderr := runStrata(t, dir, nil, "build", "--oci", oci, "--tarball", tarPath, bad)
			if code == 0 || stdout != "" || stderr == "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want a failure with a message", code, stdout, stderr)
			}
			t.Logf("%s: exit %d: %s", bad, code, stderr)
			code, _, _ = runStrata(t, dir, nil, "build", "--oci", filepath.Join(dir, "new-oci"), "good.yaml", bad)
			if code == 0 {
				t.Errorf("good + %s: exit 0", bad)
			}
			after := snapshot(t, dir)
			for p, h := range before {
				// The cache's verification stamps are bookkeeping: a blob
				// linked into a layout is stamped again after its next check.
				if strings.HasPrefix(p, "cache/strata/verified/") {
					continue
				}
				if after[p] != h {
					t.Errorf("%s changed", p)
				}
			}
			for p := range after {
				if _, ok := before[p]; !ok && !strings.HasPrefix(p, "cache/") && !strings.HasPrefix(p, "home/") {
					t.Errorf("%s appeared", p)
				}
			}
		})
	}
}

// makeTarFile returns a tar with one regular file named name.
func makeTarFile(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// snapshot returns relative path → content digest of every regular file
// under dir (fifos and symlinks skipped).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[filepath.ToSlash(rel)] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBuildRegistryBase builds and plans on a base pushed to an in-process
// registry on 127.0.0.1, through the CLI's remote options: the base
// annotations are set and plan gives build's digest.
func TestBuildRegistryBase(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // hermetic keychain
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	base, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := base.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if base, err = mutate.ConfigFile(base, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host + "/base:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, base); err != nil {
		t.Fatal(err)
	}
	baseDigest, _ := base.Digest()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"image.yaml": "base: " + ref.String() + "\nlayers:\n  - files:\n      - {src: hello.txt, dest: /hello.txt}\n",
		"hello.txt":  "hello\n",
	})
	var plan, build buildReport
	code, stdout, stderr := runStrata(t, dir, nil, "plan", "--json")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(dir, "oci")
	code, stdout, stderr = runStrata(t, dir, nil, "build", "--json", "--oci", oci)
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &build); err != nil {
		t.Fatal(err)
	}
	if plan.Digest != build.Digest {
		t.Errorf("plan %s != build %s", plan.Digest, build.Digest)
	}
	ii, err := layout.ImageIndexFromPath(oci)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := v1.NewHash(build.Digest)
	img, err := ii.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	m, _ := img.Manifest()
	if m.Annotations["org.opencontainers.image.base.name"] != ref.String() || m.Annotations["org.opencontainers.image.base.digest"] != baseDigest.String() || len(m.Layers) != 3 {
		t.Errorf("manifest annotations %v, %d layers; want base %s@%s and 3 layers", m.Annotations, len(m.Layers), ref, baseDigest)
	}
}
