package compose

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// testBase makes a deterministic one-layer base image for platform p with a
// config a user would meet on an nginx-like base.
func testBase(t testing.TB, p spec.Platform, seed uint64) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1, random.WithSource(mrand.NewSource(int64(seed))))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.History = []v1.History{{CreatedBy: "base layer"}}
	cf.Config = v1.Config{
		Entrypoint:   []string{"/docker-entrypoint.sh"},
		Cmd:          []string{"nginx", "-g", "daemon off;"},
		Env:          []string{"PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.27.0"},
		Labels:       map[string]string{"maintainer": "base"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		StopSignal:   "SIGQUIT",
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// testBaseIndex makes an OCI index of testBase images, one per platform.
func testBaseIndex(t testing.TB, plats ...spec.Platform) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, p := range plats {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: testBase(t, p, uint64(i+1)),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{
				OS: p.OS, Architecture: p.Architecture, Variant: p.Variant,
			}},
		})
	}
	return idx
}

// resolverFor serves one base reference from memory.
func resolverFor(ref string, img v1.Image, idx v1.ImageIndex) BaseResolver {
	return func(_ context.Context, r string) (v1.Image, v1.ImageIndex, error) {
		if r != ref {
			return nil, nil, fmt.Errorf("test resolver: unknown base %q", r)
		}
		return img, idx, nil
	}
}

var (
	amd64 = spec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = spec.Platform{OS: "linux", Architecture: "arm64"}
	armv7 = spec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
)

func TestBuildScratch(t *testing.T) {
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"app": "#!/bin/true\n"})
	s := &spec.Spec{
		Base:    "scratch",
		Context: ctxDir,
		Layers: []spec.Layer{
			{Name: "nothing"},
			{Name: "app", Files: []spec.File{{Src: "app", Dest: "/usr/local/bin/app"}}},
		},
		Config:      spec.Config{Entrypoint: []string{"/usr/local/bin/app"}, Env: map[string]string{"B": "2", "A": "1"}},
		Annotations: map[string]string{"org.opencontainers.image.title": "demo"},
	}
	created := time.Unix(1700000000, 0)
	res, err := Build(context.Background(), s, t.TempDir(), WithCreated(created))
	if err != nil {
		t.Fatal(err)
	}
	img := res.Artifact.Image
	if img == nil || res.Artifact.Index != nil {
		t.Fatalf("one platform must give a single image, got %+v", res.Artifact)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("media types = %s, %s; want OCI", m.MediaType, m.Config.MediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("layers = %+v; want one OCI gzip layer", m.Layers)
	}
	wantAnns := map[string]string{"org.opencontainers.image.title": "demo"}
	if !reflect.DeepEqual(m.Annotations, wantAnns) {
		t.Errorf("annotations = %v, want %v (no base annotations for scratch)", m.Annotations, wantAnns)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cf.Created.Time.Equal(created) || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("config created/os/arch = %v %s %s", cf.Created, cf.OS, cf.Architecture)
	}
	wantHist := []v1.History{{Created: v1.Time{Time: created.UTC()}, CreatedBy: "strata: layer app"}}
	if !reflect.DeepEqual(cf.History, wantHist) {
		t.Errorf("history = %+v, want %+v", cf.History, wantHist)
	}
	if !reflect.DeepEqual(cf.Config.Env, []string{"A=1", "B=2"}) || cf.Config.Entrypoint[0] != "/usr/local/bin/app" {
		t.Errorf("config = %+v", cf.Config)
	}
	if got := res.Platforms[0]; !reflect.DeepEqual(got.Skipped, []string{"nothing"}) || len(got.Layers) != 1 || got.Layers[0].Name != "app" {
		t.Errorf("platform result = %+v", got)
	}
	d, _ := img.Digest()
	if res.Digest != d || res.Platforms[0].Digest != d {
		t.Errorf("result digest %s / %s, image digest %s", res.Digest, res.Platforms[0].Digest, d)
	}
	if res.BaseName != "" || res.BaseRepo != nil {
		t.Errorf("scratch has no base name/repo, got %q %v", res.BaseName, res.BaseRepo)
	}
}

func TestBuildOnBase(t *testing.T) {
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"index.html": "<h1>hi</h1>\n"})
	const ref = "registry.example/library/nginx:1.27"
	// The base has the file the spec deletes (strata checks deletes against
	// the base's tree).
	base, err := mutate.Append(testBase(t, amd64, 7), mutate.Addendum{
		Layer:   gzipTarLayer(t, tarEnt{name: "etc/"}, tarEnt{name: "etc/nginx/"}, tarEnt{name: "etc/nginx/conf.d/"}, tarEnt{name: "etc/nginx/conf.d/default.conf"}),
		History: v1.History{CreatedBy: "base layer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	base = viaLayout(t, base)
	s := &spec.Spec{
		Base:    ref,
		Context: ctxDir,
		Layers: []spec.Layer{{Name: "site",
			Delete: []string{"/etc/nginx/conf.d/default.conf"},
			Files:  []spec.File{{Src: "index.html", Dest: "/usr/share/nginx/html/"}},
		}},
		Config: spec.Config{Env: map[string]string{"APP_ENV": "prod"}, Labels: map[string]string{"x": "y"}},
	}
	res, err := Build(context.Background(), s, t.TempDir(), WithBaseResolver(resolverFor(ref, base, nil)))
	if err != nil {
		t.Fatal(err)
	}
	img := res.Artifact.Image
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	baseDigest, _ := base.Digest()
	m, _ := img.Manifest()
	r, _ := name.ParseReference(ref)
	if m.Annotations[AnnotationBaseName] != r.Name() || m.Annotations[AnnotationBaseDigest] != baseDigest.String() {
		t.Errorf("annotations = %v; want base name %s and digest %s", m.Annotations, r.Name(), baseDigest)
	}
	if res.BaseRepo == nil || res.BaseRepo.String() != "registry.example/library/nginx" {
		t.Errorf("BaseRepo = %v", res.BaseRepo)
	}
	baseM, _ := base.Manifest()
	if len(m.Layers) != 3 || m.Layers[0].Digest != baseM.Layers[0].Digest || m.Layers[1].Digest != baseM.Layers[1].Digest {
		t.Fatalf("layers = %+v; want the base layers then ours", m.Layers)
	}
	cf, _ := img.ConfigFile()
	if len(cf.History) != 3 || cf.History[0].CreatedBy != "base layer" || cf.History[1].CreatedBy != "base layer" || cf.History[2].CreatedBy != "strata: layer site" {
		t.Errorf("history = %+v", cf.History)
	}
	if len(cf.RootFS.DiffIDs) != 3 || cf.RootFS.DiffIDs[2] != res.Platforms[0].Layers[0].DiffID {
		t.Errorf("diffIDs = %v", cf.RootFS.DiffIDs)
	}
	wantEnv := []string{"PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.27.0", "APP_ENV=prod"}
	if !reflect.DeepEqual(cf.Config.Env, wantEnv) || cf.Config.Cmd[0] != "nginx" || cf.Config.StopSignal != "SIGQUIT" {
		t.Errorf("config = %+v", cf.Config)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created = %v, want the epoch by default", cf.Created)
	}
	want := []ConfigChange{
		{Field: "created", Base: "", New: "1970-01-01T00:00:00Z"},
		{Field: "env.APP_ENV", Base: "", New: "prod"},
		{Field: "labels.x", Base: "", New: "y"},
	}
	if got := res.Platforms[0].Changes; !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %+v, want %+v", got, want)
	}
}

// countingBuilder wraps buildLayer, counts calls per (layer, platform) and
// delays each call by a random amount so completion order varies.
type countingBuilder struct {
	mu    sync.Mutex
	calls map[string]int
	rng   *rand.Rand
}

func (c *countingBuilder) build(ctx context.Context, req layer.Request) (*layer.Built, error) {
	c.mu.Lock()
	c.calls[fmt.Sprintf("%d %s", req.Index, req.Platform)]++
	d := time.Duration(c.rng.IntN(20)) * time.Millisecond
	c.mu.Unlock()
	time.Sleep(d)
	return layer.Build(ctx, req)
}

func multiPlatformSpec(t *testing.T) *spec.Spec {
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{
		"config.json":             `{"a":1}`,
		"dist/linux_amd64/app":    "amd64 binary",
		"dist/linux_arm64/app":    "arm64 binary",
		"dist/linux_arm/app":      "arm binary",
		"dist/linux_arm/app.note": "unused",
	})
	return &spec.Spec{
		Base:      "registry.example/base:1",
		Platforms: []string{"linux/arm64", "linux/amd64", "linux/arm/v7"},
		Context:   ctxDir,
		Layers: []spec.Layer{
			{Name: "shared", Files: []spec.File{{Src: "config.json", Dest: "/etc/app/config.json"}}},
			{Name: "bin", Files: []spec.File{{Src: "dist/${TARGETOS}_${TARGETARCH}/app", Dest: "/app"}}},
		},
		Config: spec.Config{Entrypoint: []string{"/app"}},
	}
}

func TestBuildMultiPlatform(t *testing.T) {
	s := multiPlatformSpec(t)
	idx := testBaseIndex(t, amd64, armv7, arm64)
	var digests []v1.Hash
	for run, jobs := range []int{1, 4, 4} {
		cb := &countingBuilder{calls: map[string]int{}, rng: rand.New(rand.NewPCG(uint64(run), 9))}
		res, err := Build(context.Background(), s, t.TempDir(), WithJobs(jobs),
			WithBaseResolver(resolverFor(s.Base, nil, idx)), withLayerFunc(cb.build))
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, res.Digest)
		// The shared layer is built once, before the base is resolved
		// (so for no platform), the per-platform one per platform.
		wantCalls := map[string]int{"0 " + spec.Platform{}.String(): 1, "1 linux/arm64": 1, "1 linux/amd64": 1, "1 linux/arm/v7": 1}
		if !reflect.DeepEqual(cb.calls, wantCalls) {
			t.Errorf("jobs=%d: buildLayer calls = %v, want %v", jobs, cb.calls, wantCalls)
		}
		ix := res.Artifact.Index
		if ix == nil {
			t.Fatal("three platforms must give an index")
		}
		if err := validate.Index(ix); err != nil {
			t.Fatalf("validate.Index: %v", err)
		}
		im, _ := ix.IndexManifest()
		if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 3 {
			t.Fatalf("index = %+v", im)
		}
		if im.Annotations[AnnotationBaseName] != "registry.example/base:1" || im.Annotations[AnnotationBaseDigest] != "" {
			t.Errorf("index annotations = %v; want the base name only", im.Annotations)
		}
		baseIM, _ := idx.IndexManifest()
		baseDigests := map[string]string{}
		for _, d := range baseIM.Manifests {
			baseDigests[d.Platform.OS+"/"+d.Platform.Architecture] = d.Digest.String()
		}
		for i, want := range []spec.Platform{arm64, amd64, armv7} {
			d := im.Manifests[i]
			got := spec.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}
			if got != want || d.MediaType != types.OCIManifestSchema1 || d.Digest != res.Platforms[i].Digest || res.Platforms[i].Platform != want {
				t.Errorf("manifest %d = %+v (%s); want platform %s", i, d, got, want)
			}
			img, _ := ix.Image(d.Digest)
			m, _ := img.Manifest()
			if got := m.Annotations[AnnotationBaseDigest]; got != baseDigests[want.OS+"/"+want.Architecture] || got != res.Platforms[i].BaseDigest.String() {
				t.Errorf("manifest %d base digest annotation %s, want %s", i, got, baseDigests[want.OS+"/"+want.Architecture])
			}
			cf, _ := img.ConfigFile()
			if cf.OS != want.OS || cf.Architecture != want.Architecture || cf.Variant != want.Variant {
				t.Errorf("manifest %d config platform %s/%s/%s", i, cf.OS, cf.Architecture, cf.Variant)
			}
			pr := res.Platforms[i]
			if len(pr.Layers) != 2 || pr.Layers[0].Name != "shared" || pr.Layers[1].Name != "bin" {
				t.Fatalf("layers of %s = %+v", want, pr.Layers)
			}
			if pr.Layers[0].Digest != res.Platforms[0].Layers[0].Digest {
				t.Errorf("shared layer differs between platforms")
			}
		}
		if res.Platforms[0].Layers[1].Digest == res.Platforms[1].Layers[1].Digest {
			t.Errorf("per-platform layers of arm64 and amd64 are the same")
		}
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Errorf("digest depends on jobs/completion order: %v", digests)
	}
}

func TestBuildPlatformsDefaultToBase(t *testing.T) {
	s := multiPlatformSpec(t)
	s.Platforms = nil
	s.Layers = s.Layers[:1]
	idx := testBaseIndex(t, amd64, arm64)
	res, err := Build(context.Background(), s, t.TempDir(), WithBaseResolver(resolverFor(s.Base, nil, idx)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Platforms {
		got = append(got, p.Platform.String())
	}
	if !reflect.DeepEqual(got, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms = %v, want the base's", got)
	}
}

func TestBuildValidatesSpec(t *testing.T) {
	for _, tt := range []struct {
		s    spec.Spec
		want string
	}{
		{spec.Spec{Base: "scratch", Platforms: []string{"linux"}}, `platforms[0]: invalid platform "linux"; want os/arch[/variant]`},
		{spec.Spec{Base: "scratch", Platforms: []string{"linux/amd64", "linux/amd64"}}, `platforms[1]: duplicate platform "linux/amd64"`},
		{spec.Spec{Base: "scratch", Layers: []spec.Layer{{Files: []spec.File{{Src: "a", Dest: "relative"}}}}}, "layers[0].files[0].dest"},
	} {
		s := tt.s
		s.Context = t.TempDir()
		cache := filepath.Join(t.TempDir(), "cache")
		_, err := Build(context.Background(), &s, cache)
		var el spec.ErrorList
		if !errors.As(err, &el) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want a spec.ErrorList containing %q", tt.s, err, tt.want)
		}
		if _, err := os.Stat(cache); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an invalid spec created the cache")
		}
	}
}

func TestPlanMatchesBuild(t *testing.T) {
	s := multiPlatformSpec(t)
	idx := testBaseIndex(t, amd64, armv7, arm64)
	cache := filepath.Join(t.TempDir(), "cache")
	opts := []Option{WithBaseResolver(resolverFor(s.Base, nil, idx)), WithCreated(time.Unix(1234, 0))}
	plan, err := Plan(context.Background(), s, cache, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cache); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Plan created the cache directory (stat: %v)", err)
	}
	if !plan.DryRun {
		t.Error("plan result is not marked DryRun")
	}
	out := filepath.Join(t.TempDir(), "oci")
	if err := WriteOutputs(context.Background(), plan, Outputs{LayoutDir: out}); err == nil || !strings.Contains(err.Error(), "a plan has no layer content") {
		t.Errorf("WriteOutputs(plan) = %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WriteOutputs(plan) wrote %s", out)
	}
	build, err := Build(context.Background(), s, cache, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Digest != build.Digest {
		t.Errorf("plan digest %s != build digest %s", plan.Digest, build.Digest)
	}
	if !reflect.DeepEqual(plan.Platforms, build.Platforms) {
		t.Errorf("plan and build reports differ:\nplan  %+v\nbuild %+v", plan.Platforms, build.Platforms)
	}
}

func TestBuildFailureWritesNothing(t *testing.T) {
	ctxDir := t.TempDir()
	s := &spec.Spec{Base: "scratch", Context: ctxDir, Layers: []spec.Layer{
		{Name: "missing", Files: []spec.File{{Src: "nope.txt", Dest: "/nope.txt"}}},
	}}
	_, err := Build(context.Background(), s, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "nope.txt") {
		t.Fatalf("Build = %v, want an error naming nope.txt", err)
	}
	if err := WriteOutputs(context.Background(), nil, Outputs{LayoutDir: t.TempDir()}); err == nil {
		t.Error("WriteOutputs(nil) succeeded")
	}
}

func TestBuildOptions(t *testing.T) {
	s := &spec.Spec{Base: "scratch", Context: t.TempDir()}
	if _, err := Build(context.Background(), s, ""); err == nil || !strings.Contains(err.Error(), "no cache directory given") {
		t.Errorf("no cache dir: %v", err)
	}
	if _, err := Build(context.Background(), s, t.TempDir(), WithJobs(0)); err == nil || !strings.Contains(err.Error(), "jobs must be at least 1") {
		t.Errorf("jobs 0: %v", err)
	}
	s.Context = filepath.Join(t.TempDir(), "absent")
	if _, err := Build(context.Background(), s, t.TempDir()); err == nil || !strings.Contains(err.Error(), "opening context directory") {
		t.Errorf("missing context: %v", err)
	}
}

// withLayerFunc replaces buildLayer for one Build (tests only).
func withLayerFunc(f layer.BuildFunc) Option {
	return func(o *options) error {
		o.layerFunc = f
		return nil
	}
}

func TestWriteOutputsChecksBeforeWriting(t *testing.T) {
	s := multiPlatformSpec(t)
	idx := testBaseIndex(t, amd64, armv7, arm64)
	res, err := Build(context.Background(), s, t.TempDir(), WithBaseResolver(resolverFor(s.Base, nil, idx)))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	err = WriteOutputs(context.Background(), res, Outputs{
		LayoutDir:   filepath.Join(out, "oci"),
		TarballPath: filepath.Join(out, "image.tar"),
	})
	want := "a docker tarball holds one platform, the image has 3 (linux/arm64, linux/amd64, linux/arm/v7)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("WriteOutputs = %v, want %q", err, want)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("a refused write left %v", entries)
	}
}

// TestLayoutHardLinksBuiltLayers checks that a layout written from a build
// shares the built layer's blob with the cache (no 2nd copy of a big layer)
// and that the shared file is readable by all, as layout blobs must be.
func TestLayoutHardLinksBuiltLayers(t *testing.T) {
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"big.txt": strings.Repeat("strata ", 10000)})
	s := &spec.Spec{Base: "scratch", Context: ctxDir, Layers: []spec.Layer{{Name: "big", Files: []spec.File{{Src: "big.txt", Dest: "/big.txt"}}}}}
	cache := t.TempDir()
	res, err := Build(context.Background(), s, cache)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "oci")
	if err := WriteOutputs(context.Background(), res, Outputs{LayoutDir: out, LayoutRefs: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	d := res.Platforms[0].Layers[0].Digest
	a, err := os.Stat(filepath.Join(cache, "blobs", "sha256", d.Hex))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(filepath.Join(out, "blobs", "sha256", d.Hex))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Errorf("layout layer blob is a copy, want a hard link to the cache's")
	}
	if b.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("layout layer blob mode %v, want readable by all", b.Mode())
	}
	// A plan that stored nothing has no local file to offer.
	plan, err := Plan(context.Background(), s, filepath.Join(t.TempDir(), "fresh"))
	if err != nil {
		t.Fatal(err)
	}
	img := plan.Artifact.Image
	ls, _ := img.Layers()
	if lb, ok := ls[0].(oci.LocalBlob); ok {
		if p, err := lb.BlobPath(context.Background()); err == nil {
			t.Errorf("a plan layer claims a local blob %s", p)
		}
	}
}
