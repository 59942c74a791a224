package diff_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/diff"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// siteSpec is a scratch spec packaging dir under /srv/www in a layer
// named "site".
func siteSpec(dir string, files map[string]string, edit func(*spec.Spec)) *spec.Spec {
	s := &spec.Spec{
		Base:    "scratch",
		Context: dir,
		Layers:  []spec.Layer{{Name: "site", Files: []spec.File{{Src: "**", Dest: "/srv/www/"}}}},
		Config:  spec.Config{Env: map[string]string{"APP_ENV": "dev"}, Cmd: []string{"/srv/www/run"}},
	}
	if edit != nil {
		edit(s)
	}
	return s
}

// treeDir writes files into a new directory and returns it.
func treeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	d := t.TempDir()
	fixture.WriteTree(t, d, files)
	return d
}

// buildLayout builds s and writes it to a new OCI layout under the ref
// name "t"; it returns the layout directory.
func buildLayout(t *testing.T, cache string, s *spec.Spec) string {
	t.Helper()
	ctx := context.Background()
	res, err := compose.Build(ctx, s, cache, compose.WithCreated(time.Unix(1700000000, 0)))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := compose.WriteOutputs(ctx, res, compose.Outputs{LayoutDir: dir, LayoutRefs: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// debianBase writes a Debian-like base image (one layer with
// /etc/debian_version, /var/lib/dpkg/status and /usr/bin files) to an OCI
// layout under the ref name "deb". No network serves real Debian images
// here; the layer has the shape that matters to a diff.
func debianBase(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1690000000, 0)
	for _, e := range []struct {
		name, body string
		mode       int64
	}{
		{"etc/", "", 0o755}, {"etc/debian_version", "12.8\n", 0o644},
		{"usr/", "", 0o755}, {"usr/bin/", "", 0o755},
		{"usr/bin/dpkg", "#!dpkg\n", 0o755}, {"usr/bin/perl", "#!perl\n", 0o755},
		{"var/", "", 0o755}, {"var/lib/", "", 0o755}, {"var/lib/dpkg/", "", 0o755},
		{"var/lib/dpkg/status", "Package: dpkg\nStatus: install ok installed\n", 0o644},
	} {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "debootstrap"}}); err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/usr/bin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "debian")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{oci.RefNameAnnotation: "deb"})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unpack runs umoci on the layout's image ref and returns the bundle.
func unpack(t *testing.T, dir, ref string) string {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "bundle")
	args := []string{"unpack"}
	if os.Getuid() != 0 {
		args = append(args, "--rootless")
	}
	args = append(args, "--image", dir+":"+ref, bundle)
	if out, err := exec.Command("umoci", args...).CombinedOutput(); err != nil {
		t.Fatalf("umoci %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bundle
}

// runtimeProcess is what umoci's runtime config says the container runs.
func runtimeProcess(t *testing.T, bundle string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rc struct {
		Process json.RawMessage `json:"process"`
	}
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	return string(rc.Process)
}

// reportPaths lists every path the report names, sorted.
func reportPaths(r *diff.Report) []string {
	var out []string
	for _, p := range r.Platforms {
		for _, l := range p.Layers {
			for _, c := range l.Changes {
				out = append(out, c.Path)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestDiffAgreesWithUmoci checks strata's diff against an oracle nobody
// here wrote: umoci unpacks both images, and the mtree manifests it writes
// of the two rootfs trees (plus the runtime config it derives) say whether
// the images differ and which paths do. On every pair strata and umoci must
// agree on same/different and on the paths named.
func TestDiffAgreesWithUmoci(t *testing.T) {
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Fatal("umoci is required (make tools installs it)")
	}
	cache := t.TempDir()
	site := map[string]string{"index.html": "<h1>hi</h1>\n", "about.html": "about\n", "run": "#!/bin/true\n"}
	changed := map[string]string{"index.html": "<h1>hello</h1>\n", "about.html": "about\n", "run": "#!/bin/true\n"}
	fewer := map[string]string{"index.html": "<h1>hi</h1>\n", "run": "#!/bin/true\n"}
	deb := debianBase(t)
	debSpec := func(del ...string) *spec.Spec {
		s := &spec.Spec{Base: "oci:" + deb + ":deb", Context: treeDir(t, map[string]string{"motd": "hello\n"}),
			Layers: []spec.Layer{{Name: "app", Files: []spec.File{{Src: "motd", Dest: "/etc/motd"}}}}}
		s.Layers[0].Delete = del
		return s
	}
	for _, tc := range []struct {
		name      string
		a, b      *spec.Spec
		wantPaths []string
		summary   string
	}{
		{"same image", siteSpec(treeDir(t, site), nil, nil), siteSpec(treeDir(t, site), nil, nil), nil,
			"same: "},
		{"one file changed", siteSpec(treeDir(t, site), nil, nil), siteSpec(treeDir(t, changed), nil, nil),
			[]string{"/srv/www/index.html"}, `1 file changed in layer 1 "site"`},
		{"mode change", siteSpec(treeDir(t, site), nil, nil), siteSpec(treeDir(t, site), nil, func(s *spec.Spec) {
			s.Layers[0].Files = []spec.File{
				{Src: "**", Dest: "/srv/www/", Exclude: []string{"run"}},
				{Src: "run", Dest: "/srv/www/run", Mode: "0755"},
			}
		}), []string{"/srv/www/run"}, `1 file changed in layer 1 "site"`},
		{"env change", siteSpec(treeDir(t, site), nil, nil), siteSpec(treeDir(t, site), nil, func(s *spec.Spec) {
			s.Config.Env = map[string]string{"APP_ENV": "prod"}
		}), nil, "config: env.APP_ENV"},
		{"deleted path", siteSpec(treeDir(t, site), nil, nil), siteSpec(treeDir(t, fewer), nil, nil),
			[]string{"/srv/www/about.html"}, `1 file changed in layer 1 "site"`},
		{"debian base whiteout", debSpec(), debSpec("/usr/bin/perl"),
			[]string{"/usr/bin/perl"}, `1 file changed in layer 2 "app"`},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			la, lb := buildLayout(t, cache, tc.a), buildLayout(t, cache, tc.b)
			ctx := context.Background()
			aa, err := oci.ReadLayout(spec.Location{Kind: spec.LocationLayout, Dir: la, Tag: "t"})
			if err != nil {
				t.Fatal(err)
			}
			ab, err := oci.ReadLayout(spec.Location{Kind: spec.LocationLayout, Dir: lb, Tag: "t"})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := diff.Images(ctx, aa, ab)
			if err != nil {
				t.Fatal(err)
			}

			ba, bb := unpack(t, la, "t"), unpack(t, lb, "t")
			oraclePaths := mtreeDiff(readMtree(t, ba), readMtree(t, bb))
			oracleSame := len(oraclePaths) == 0 && runtimeProcess(t, ba) == runtimeProcess(t, bb)

			if rep.Same != oracleSame {
				t.Errorf("strata says same=%v, umoci says same=%v (paths %v)", rep.Same, oracleSame, oraclePaths)
			}
			if got := reportPaths(rep); !slices.Equal(got, oraclePaths) {
				t.Errorf("strata names paths %v, umoci's trees differ at %v", got, oraclePaths)
			}
			if !slices.Equal(oraclePaths, tc.wantPaths) {
				t.Errorf("umoci's trees differ at %v, the pair was made to differ at %v", oraclePaths, tc.wantPaths)
			}
			t.Logf("strata: %s; umoci: %v", rep.Summary(), oraclePaths)
			if got := rep.Summary(); !strings.HasPrefix(got, tc.summary) {
				t.Errorf("summary %q, want it to start with %q", got, tc.summary)
			}
		})
	}
}
