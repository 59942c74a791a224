package compose

// The examples in examples/ and image.yaml.example are built here, each in a
// temporary copy with the inputs a user would produce (a Go binary, per
// platform dist/ files) and, where the real base would need the network, a
// handmade base served through WithBaseResolver. Golden digests (R8) pin the
// diffID and the compressed digest of every layer separately, and the
// manifest digest: a failure says which changed. Run with -update-golden to
// rewrite testdata/golden/examples.json after an intended change.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/spec"
)

var updateExampleGolden = flag.Bool("update-golden", false, "rewrite testdata/golden/examples.json")

const exampleGoldenFile = "testdata/golden/examples.json"

// exampleLayer pins one layer.
type exampleLayer struct {
	Name   string `json:"name"`
	DiffID string `json:"diffID"`
	Digest string `json:"digest"`
}

// exampleGolden pins one example build.
type exampleGolden struct {
	Digest    string                    `json:"digest"`
	Platforms map[string][]exampleLayer `json:"platforms"`
}

// copyDir copies the tree at src into dst (regular files and dirs only).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// repoRoot is the module root (compose's parent).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// distrolessLikeBase is a handmade nonroot base: passwd, a sticky /tmp and
// a merged-usr /lib.
func distrolessLikeBase(t *testing.T, p spec.Platform) v1.Image {
	t.Helper()
	rootfs := makeTar(t, []tarEntry{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, data: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{name: "home/", typ: tar.TypeDir, mode: 0o755},
		{name: "home/nonroot/", typ: tar.TypeDir, mode: 0o700, uid: 65532, gid: 65532},
		{name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "usr/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/os-release", typ: tar.TypeReg, mode: 0o644, data: "ID=handmade\nPLATFORM=" + p.String() + "\n"},
	}, true)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: plainLayer{layer}, History: v1.History{CreatedBy: "handmade distroless"}})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config = v1.Config{User: "65532", WorkingDir: "/home/nonroot", Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// indexOf puts one base image per platform into an OCI index.
func indexOf(t *testing.T, mk func(*testing.T, spec.Platform) v1.Image, plats ...spec.Platform) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range plats {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        mk(t, p),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}},
		})
	}
	return idx
}

// exampleCase is one example build.
type exampleCase struct {
	name     string
	dir      string // copied from the repository ("" for the repo root file)
	spec     string // relative to the copy
	base     func(t *testing.T) BaseResolver
	prepare  func(t *testing.T, root string)
	noGolden string // why this example has no golden digest
	check    func(t *testing.T, res *Result, root string)
}

func buildExample(t *testing.T, ec exampleCase) (*Result, string) {
	t.Helper()
	root := t.TempDir()
	copyDir(t, filepath.Join(repoRoot(t), ec.dir), root)
	if ec.prepare != nil {
		ec.prepare(t, root)
	}
	s, err := spec.Load(filepath.Join(root, ec.spec), spec.LoadOptions{})
	if err != nil {
		t.Fatalf("loading %s: %v", ec.spec, err)
	}
	var opts []Option
	if ec.base != nil {
		opts = append(opts, WithBaseResolver(ec.base(t)))
	}
	res, err := Build(context.Background(), s, t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("building %s: %v", ec.spec, err)
	}
	if res.Artifact.Index != nil {
		if err := validate.Index(res.Artifact.Index); err != nil {
			t.Errorf("validate.Index: %v", err)
		}
	} else if err := validate.Image(res.Artifact.Image); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	// Written to a layout and read back, the output validates too.
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteOutputs(context.Background(), res, Outputs{LayoutDir: dir, LayoutRefs: []string{"example"}}); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Artifact.Index != nil {
		child, err := lp.ImageIndex(res.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(child); err != nil {
			t.Errorf("validate.Index(layout): %v", err)
		}
	} else {
		img, err := lp.Image(res.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("validate.Image(layout): %v", err)
		}
	}
	return res, root
}

func writeBins(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func exampleCases() []exampleCase {
	nginx := func(t *testing.T, p spec.Platform) v1.Image { return nginxLikeBase(t, p) }
	return []exampleCase{
		{
			name: "image.yaml.example", dir: ".", spec: "image.yaml.example",
			check: func(t *testing.T, res *Result, _ string) {
				if res.Artifact.Image == nil || res.BaseName != "" {
					t.Errorf("image.yaml.example must build a single scratch image")
				}
			},
		},
		{
			name: "static-site", dir: "examples/static-site", spec: "image.yaml",
			base: func(t *testing.T) BaseResolver {
				return resolverFor("nginx:1.27-alpine", nil, indexOf(t, nginx, amd64, arm64))
			},
			check: func(t *testing.T, res *Result, _ string) {
				if len(res.Platforms) != 2 || res.BaseName == "" {
					t.Fatalf("want a 2-platform index on the nginx base, got %d platforms, base %q", len(res.Platforms), res.BaseName)
				}
				var kinds []string
				for _, e := range res.Platforms[0].Layers[0].Entries {
					kinds = append(kinds, e.Type+" "+e.Target)
				}
				for _, want := range []string{"opaque /usr/share/nginx/html", "whiteout /etc/nginx/conf.d/default.conf", "file /usr/share/nginx/html/index.html", "file /etc/nginx/conf.d/site.conf"} {
					if !slices.Contains(kinds, want) {
						t.Errorf("site layer lacks %q: %v", want, kinds)
					}
				}
			},
		},
		{
			name: "go-binary", dir: "examples/go-binary", spec: "image.yaml",
			prepare: func(t *testing.T, root string) {
				// Build the example's main.go (a package of this module)
				// into the copy, as its README says.
				cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(root, "bin", "server"), "./examples/go-binary/cmd/server")
				cmd.Dir = repoRoot(t)
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("go build: %v\n%s", err, out)
				}
			},
			noGolden: "the layer holds a binary from the local Go toolchain (" + runtime.Version() + "); its bytes are checked instead",
			check: func(t *testing.T, res *Result, root string) {
				bin, err := os.ReadFile(filepath.Join(root, "bin", "server"))
				if err != nil {
					t.Fatal(err)
				}
				files := unpackLayer(t, res.Artifact.Image, res.Platforms[0].Layers[0].Digest)
				if got := files["usr/local/bin/server"]; got.data != string(bin) || got.mode != 0o755 || got.uid != 65532 {
					t.Errorf("usr/local/bin/server: %d bytes mode %o uid %d; want the built binary (%d bytes), 0755, 65532", len(got.data), got.mode, got.uid, len(bin))
				}
				if got := files["tmp"]; got.mode != 0o1777 {
					t.Errorf("tmp: mode %o, want 1777", got.mode)
				}
			},
		},
		{
			name: "multi-platform", dir: "examples/multi-platform", spec: "image.yaml",
			prepare: func(t *testing.T, root string) {
				writeBins(t, root, map[string]string{
					"dist/linux_amd64/app": "#!/bin/sh\necho amd64\n",
					"dist/linux_arm64/app": "#!/bin/sh\necho arm64\n",
				})
			},
			check: func(t *testing.T, res *Result, _ string) {
				if len(res.Platforms) != 2 || res.Platforms[0].Layers[0].Digest == res.Platforms[1].Layers[0].Digest {
					t.Errorf("want two platforms with different app layers: %+v", res.Platforms)
				}
			},
		},
	}
}

// unpackedFile is one entry of a layer.
type unpackedFile struct {
	data string
	mode int64
	uid  int
}

// unpackLayer reads the layer with the given digest into path → entry.
func unpackLayer(t *testing.T, img v1.Image, digest v1.Hash) map[string]unpackedFile {
	t.Helper()
	l, err := img.LayerByDigest(digest)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]unpackedFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = unpackedFile{data: string(b), mode: h.Mode, uid: h.Uid}
	}
	return out
}

func TestExamples(t *testing.T) {
	golden := map[string]exampleGolden{}
	if b, err := os.ReadFile(exampleGoldenFile); err == nil {
		if err := json.Unmarshal(b, &golden); err != nil {
			t.Fatalf("%s: %v", exampleGoldenFile, err)
		}
	} else if !*updateExampleGolden {
		t.Fatalf("%s: %v (run with -update-golden to create it)", exampleGoldenFile, err)
	}
	got := map[string]exampleGolden{}
	for _, ec := range exampleCases() {
		t.Run(ec.name, func(t *testing.T) {
			res, root := buildExample(t, ec)
			again, _ := buildExample(t, ec)
			if res.Digest != again.Digest {
				t.Errorf("two builds differ: %s vs %s", res.Digest, again.Digest)
			}
			if ec.check != nil {
				ec.check(t, res, root)
			}
			if ec.noGolden != "" {
				t.Logf("no golden digest: %s", ec.noGolden)
				return
			}
			g := exampleGolden{Digest: res.Digest.String(), Platforms: map[string][]exampleLayer{}}
			for _, p := range res.Platforms {
				for _, l := range p.Layers {
					g.Platforms[p.Platform.String()] = append(g.Platforms[p.Platform.String()], exampleLayer{Name: l.Name, DiffID: l.DiffID.String(), Digest: l.Digest.String()})
				}
			}
			got[ec.name] = g
			if !*updateExampleGolden {
				compareGolden(t, golden[ec.name], g)
			}
		})
	}
	t.Run("monorepo", func(t *testing.T) { testMonorepo(t, golden, got) })
	if *updateExampleGolden {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.MkdirAll(filepath.Dir(exampleGoldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exampleGoldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// compareGolden reports, per layer, whether the diffID (the tar bytes) or
// only the compressed digest (the compressor) changed.
func compareGolden(t *testing.T, want, got exampleGolden) {
	t.Helper()
	if want.Digest == "" {
		t.Fatalf("no golden entry; run go test ./compose -run TestExamples -update-golden")
	}
	for plat, layers := range got.Platforms {
		wl := want.Platforms[plat]
		if len(wl) != len(layers) {
			t.Errorf("%s: %d layers, golden has %d", plat, len(layers), len(wl))
			continue
		}
		for i, l := range layers {
			switch {
			case l.DiffID != wl[i].DiffID:
				t.Errorf("%s layer %s: diffID changed %s → %s: the uncompressed tar differs (tar writer, entry rules or input)", plat, l.Name, wl[i].DiffID, l.DiffID)
			case l.Digest != wl[i].Digest:
				t.Errorf("%s layer %s: only the compressed digest changed %s → %s: the compressor (klauspost/compress version, level) changed", plat, l.Name, wl[i].Digest, l.Digest)
			}
		}
	}
	if got.Digest != want.Digest {
		t.Errorf("manifest digest changed %s → %s", want.Digest, got.Digest)
	}
}

// testMonorepo builds the three services that share templates/service.cue,
// each from its CUE package directory, on a handmade distroless base.
func testMonorepo(t *testing.T, golden, got map[string]exampleGolden) {
	root := t.TempDir()
	copyDir(t, filepath.Join(repoRoot(t), "examples", "monorepo"), root)
	bins := map[string]string{}
	for _, svc := range []string{"api", "web", "worker"} {
		for _, arch := range []string{"amd64", "arm64"} {
			bins[fmt.Sprintf("bin/linux_%s/%s", arch, svc)] = fmt.Sprintf("#!/bin/sh\necho %s %s\n", svc, arch)
		}
	}
	writeBins(t, root, bins)
	base := resolverFor("gcr.io/distroless/static-debian12:nonroot", nil, indexOf(t, distrolessLikeBase, amd64, arm64))
	var baseLayer v1.Hash
	for _, svc := range []string{"api", "web", "worker"} {
		s, err := spec.Load(filepath.Join(root, "services", svc), spec.LoadOptions{})
		if err != nil {
			t.Fatalf("loading services/%s: %v", svc, err)
		}
		res, err := Build(context.Background(), s, t.TempDir(), WithBaseResolver(base))
		if err != nil {
			t.Fatalf("building services/%s: %v", svc, err)
		}
		if err := validate.Index(res.Artifact.Index); err != nil {
			t.Errorf("%s: validate.Index: %v", svc, err)
		}
		if len(res.Platforms) != 2 {
			t.Fatalf("%s: %d platforms, want 2", svc, len(res.Platforms))
		}
		for _, p := range res.Platforms {
			if len(p.Layers) != 1 || p.Layers[0].Name != svc {
				t.Errorf("%s %s: layers %+v, want one named %s", svc, p.Platform, p.Layers, svc)
			}
		}
		img, err := res.Artifact.Index.Image(res.Platforms[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if cf.Config.Entrypoint[0] != "/usr/local/bin/"+svc || cf.Config.User != "65532:65532" {
			t.Errorf("%s: config %+v", svc, cf.Config)
		}
		m, _ := img.Manifest()
		if baseLayer.Hex == "" {
			baseLayer = m.Layers[0].Digest
		} else if m.Layers[0].Digest != baseLayer {
			t.Errorf("%s: base layer %s differs from the other services' %s", svc, m.Layers[0].Digest, baseLayer)
		}
		g := exampleGolden{Digest: res.Digest.String(), Platforms: map[string][]exampleLayer{}}
		for _, p := range res.Platforms {
			for _, l := range p.Layers {
				g.Platforms[p.Platform.String()] = append(g.Platforms[p.Platform.String()], exampleLayer{Name: l.Name, DiffID: l.DiffID.String(), Digest: l.Digest.String()})
			}
		}
		key := "monorepo/" + svc
		got[key] = g
		if !*updateExampleGolden {
			t.Run(svc, func(t *testing.T) { compareGolden(t, golden[key], g) })
		}
	}
}
