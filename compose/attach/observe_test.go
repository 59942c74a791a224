package attach

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/sbom"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// blobBytes is a transport that counts, per blob digest, the response
// bytes read of GET …/blobs/<digest>.
type blobBytes struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int64
}

func (b *blobBytes) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
		return resp, err
	}
	d := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	resp.Body = &countedBody{ReadCloser: resp.Body, add: func(k int) {
		b.mu.Lock()
		b.n[d] += int64(k)
		b.mu.Unlock()
	}}
	return resp, nil
}

// take returns the counts and starts again.
func (b *blobBytes) take() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.n
	b.n = map[string]int64{}
	return n
}

type countedBody struct {
	io.ReadCloser
	add func(int)
}

func (c *countedBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.add(n)
	return n, err
}

// tarLayer is a gzip layer of the given files (name → content; a name
// ending in "/" is a directory).
func tarLayer(t *testing.T, files ...string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		h := &tar.Header{Name: files[i], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[i+1])), ModTime: time.Unix(0, 0)}
		if strings.HasSuffix(h.Name, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, files[i+1])
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// debianImage is a base for arch: a layer with dpkg's status file and a
// status.d entry, and a layer with a tool.
func debianImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	status := fmt.Sprintf("Package: libc6\nStatus: install ok installed\nVersion: 2.36\nArchitecture: %s\nSource: glibc\n\n"+
		"Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n", arch)
	img, err := mutate.AppendLayers(empty.Image,
		tarLayer(t, "etc/", "", "etc/os-release", "debian "+arch, "var/", "", "var/lib/", "", "var/lib/dpkg/", "",
			"var/lib/dpkg/status", status, "var/lib/dpkg/status.d/", "", "var/lib/dpkg/status.d/tzdata", "Package: tzdata\nVersion: 2024a\n"),
		tarLayer(t, "usr/", "", "usr/bin/", "", "usr/bin/tool-"+arch, "tool"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// sbomContext writes the context the cases build from: a small site, a Go
// binary (the test binary itself), a replacement file, and 18 MiB of
// random files for a split layer.
func sbomContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"other/b.html": "replaced", "dist/linux_amd64/app": "amd64", "dist/linux_arm64/app": "arm64"}
	for i := range 30 {
		files[fmt.Sprintf("site/d%d/p%02d.html", i%3, i)] = strings.Repeat(fmt.Sprintf("page %d ", i), i+1)
	}
	files["site/a.html"], files["site/b.html"] = "a", "b"
	// Three files of 4 MiB, each over the split budget, so each ends a
	// part, and smaller ones between them.
	src := rand.NewChaCha8([32]byte{7})
	for i := range 9 {
		b := make([]byte, 1<<20)
		if i%3 == 0 {
			b = make([]byte, 4<<20)
		}
		src.Read(b)
		files[fmt.Sprintf("big/f%02d.bin", i)] = string(b)
	}
	fixture.WriteTree(t, dir, files)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/app"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestObservedSBOMsAreTheScannersAndReadNothing: for every case, the
// SBOMs (SPDX and CycloneDX) made from the inventories recorded while the
// image was built are byte for byte those the plain scanner makes by
// reading every layer. Making them reads no layer: strata's own blobs are
// moved out of the cache meanwhile, and the registry base's layers are
// downloaded exactly once in all (by the base check, on the cold build)
// and not at all on a rebuild whose layers come from the layer cache, in a
// later command (a fresh memo over the same cache directory).
func TestObservedSBOMsAreTheScannersAndReadNothing(t *testing.T) {
	reg := fixture.NewRegistry(t)
	counts := &blobBytes{next: reg.Transport, n: map[string]int64{}}
	amd, arm := debianImage(t, "amd64"), debianImage(t, "arm64")
	reg.Push(t, "debian:12", amd)
	reg.Push(t, "debian:multi", mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}}))
	// sizes returns the compressed size of every layer of imgs, by digest.
	sizes := func(imgs ...v1.Image) map[string]int64 {
		out := map[string]int64{}
		for _, img := range imgs {
			ls, _ := img.Layers()
			for _, l := range ls {
				d, _ := l.Digest()
				out[d.String()], _ = l.Size()
			}
		}
		return out
	}
	ctxDir := sbomContext(t)
	site := spec.File{Src: "site/**", Dest: "/srv/"}
	// Each case's documents must contain these, and not the unwanted ones
	// ("-" prefix).
	contains := map[string][]string{
		"tree of files":                    {"/srv/d0/p00.html", "libc6", "tzdata", "-gone"},
		"go binary":                        {"/usr/local/bin/app", "pkg:golang/github.com/strata-build/strata", "compose/attach.test", "libc6"},
		"later layer deletes and replaces": {"/srv/b.html", "-/srv/a.html", "-/srv/d1/"},
		"base database whited out":         {"tzdata", "-libc6"},
		"split auto":                       {"/data/f08.bin", "/srv/d2/p29.html"},
		"multi-platform":                   {"/app", "libc6", "-tzdata"},
	}
	cases := map[string]*spec.Spec{
		"tree of files": {Base: reg.Host + "/debian:12", Layers: []spec.Layer{{Name: "site", Files: []spec.File{site}}}},
		"go binary": {Base: reg.Host + "/debian:12", Layers: []spec.Layer{{Name: "app",
			Files: []spec.File{{Src: "bin/app", Dest: "/usr/local/bin/app", Mode: "0755"}}}}},
		"later layer deletes and replaces": {Base: reg.Host + "/debian:12", Layers: []spec.Layer{
			{Name: "site", Files: []spec.File{site}},
			{Name: "fix", Delete: []string{"/srv/a.html", "/srv/d1"}, Files: []spec.File{{Src: "other/b.html", Dest: "/srv/b.html"}}}}},
		"base database whited out": {Base: reg.Host + "/debian:12", Layers: []spec.Layer{
			{Name: "nodpkg", Delete: []string{"/var/lib/dpkg/status"}, Files: []spec.File{{Src: "other/b.html", Dest: "/srv/b.html"}}}}},
		"split auto": {Base: reg.Host + "/debian:12", Layers: []spec.Layer{
			{Name: "big", Split: "auto", Files: []spec.File{{Src: "big/**", Dest: "/data/"}, site}}}},
		"multi-platform": {Base: reg.Host + "/debian:multi", Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: []spec.Layer{
			{Name: "site", Files: []spec.File{site}},
			{Name: "app", Files: []spec.File{{Src: "dist/${TARGETOS}_${TARGETARCH}/app", Dest: "/app", Mode: "0755"}}},
			{Name: "nodpkg", Delete: []string{"/var/lib/dpkg/status.d/tzdata"}}}},
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			s.Context = ctxDir
			baseLayers := sizes(amd)
			if len(s.Platforms) > 1 {
				baseLayers = sizes(amd, arm)
			}
			cache := t.TempDir()
			for _, run := range []string{"cold", "rebuild"} {
				counts.take()
				memo := sbom.NewMemo(filepath.Join(cache, "sbom"))
				res, err := compose.Build(context.Background(), s, cache,
					compose.WithRemote(remote.WithTransport(counts)), compose.WithObserver(SBOMObserver(memo)))
				if err != nil {
					t.Fatal(err)
				}
				if name == "split auto" && len(res.Platforms[0].Layers) < 3 {
					t.Fatalf("the split layer has %d parts, want several", len(res.Platforms[0].Layers))
				}
				if run == "rebuild" {
					for _, pr := range res.Platforms {
						for _, l := range pr.Layers {
							if !l.Cached {
								t.Fatalf("rebuild: layer %s not from the layer cache", l.Name)
							}
						}
					}
				}
				restore := hideOwnBlobs(t, cache, res)
				observed := sbomDocs(t, res, memo)
				restore()
				got := counts.take()
				for d, size := range baseLayers {
					if run == "rebuild" {
						size = 0
					}
					if got[d] != size {
						t.Errorf("%s: base layer %s: %d bytes downloaded by the build and its SBOMs, want %d", run, d, got[d], size)
					}
				}
				for _, doc := range observed {
					for _, w := range contains[name] {
						if strings.HasPrefix(w, "-") == bytes.Contains(doc, []byte(strings.TrimPrefix(w, "-"))) {
							t.Errorf("%s: a document has %q wrong:\n%s", run, w, doc)
						}
					}
				}
				plain := sbomDocs(t, res, nil)
				for i := range plain {
					if !bytes.Equal(observed[i], plain[i]) {
						t.Errorf("%s: document %d differs from the plain scanner's:\n%s\nplain:\n%s", run, i, observed[i], plain[i])
					}
				}
			}
		})
	}
}

// sbomDocs makes the SPDX and CycloneDX SBOMs of every platform of res
// with memo (nil: the plain scanner, reading every layer).
func sbomDocs(t *testing.T, res *compose.Result, memo *sbom.Memo) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range []sbom.Format{sbom.SPDX, sbom.CycloneDX} {
		atts, err := Make(context.Background(), res, Options{SBOM: true, SBOMFormat: f, Memo: memo, Name: "registry.example/app", Tool: "strata-test"})
		if err != nil {
			t.Fatalf("%s SBOMs (memo %v): %v", f, memo != nil, err)
		}
		if len(atts) != len(res.Platforms) {
			t.Fatalf("%d SBOMs for %d platforms", len(atts), len(res.Platforms))
		}
		for _, a := range atts {
			out = append(out, a.Data)
		}
	}
	return out
}

// hideOwnBlobs moves the blobs of the layers strata built for res out of
// the cache, so that reading one fails; restore puts them back.
func hideOwnBlobs(t *testing.T, cache string, res *compose.Result) (restore func()) {
	t.Helper()
	away := t.TempDir()
	var moved []string
	for _, pr := range res.Platforms {
		for _, l := range pr.Layers {
			p := filepath.Join(cache, "blobs", l.Digest.Algorithm, l.Digest.Hex)
			if err := os.Rename(p, filepath.Join(away, l.Digest.Hex)); err == nil {
				moved = append(moved, p)
			} else if !os.IsNotExist(err) { // a layer shared by platforms moves once
				t.Fatal(err)
			}
		}
	}
	if len(moved) == 0 {
		t.Fatal("no layer blob of strata's to hide")
	}
	return func() {
		for _, p := range moved {
			if err := os.Rename(filepath.Join(away, filepath.Base(p)), p); err != nil {
				t.Fatal(err)
			}
		}
	}
}
