package base

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/ctxio"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

func TestBaseRegistryIndexNarrowed(t *testing.T) {
	r := fixture.NewRegistry(t)
	idx := fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"), fixture.Platform(t, "linux/arm/v7"))
	idxDigest := r.Push(t, "lib/base:1", idx)
	im, _ := idx.IndexManifest()
	ctx := context.Background()
	o := viaRegistry(t, r, "", nil)

	base := r.Host + "/lib/base:1"
	rb, err := resolveBase(ctx, base, []spec.Platform{fixture.Platform(t, "linux/arm64"), fixture.Platform(t, "linux/amd64")}, o)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Name != base || rb.Repo == nil || rb.Repo.String() != r.Host+"/lib/base" {
		t.Errorf("name %q repo %v", rb.Name, rb.Repo)
	}
	if len(rb.Platforms) != 2 || rb.Platforms[0].Platform.String() != "linux/arm64" || rb.Platforms[1].Platform.String() != "linux/amd64" {
		t.Fatalf("platforms = %+v", rb.Platforms)
	}
	for i, want := range []v1.Hash{im.Manifests[1].Digest, im.Manifests[0].Digest} {
		pb := rb.Platforms[i]
		if pb.Digest != want {
			t.Errorf("%s: digest %s, want %s", pb.Platform, pb.Digest, want)
		}
		if d, _ := pb.Image.Digest(); d != want {
			t.Errorf("%s: image digest %s, want %s", pb.Platform, d, want)
		}
		if err := validate.Image(pb.Image); err != nil {
			t.Errorf("%s: %v", pb.Platform, err)
		}
		cfg, _ := pb.Image.ConfigFile()
		if cfg.Architecture != pb.Platform.Architecture {
			t.Errorf("%s: config architecture %q", pb.Platform, cfg.Architecture)
		}
	}

	// No platforms wanted: every runnable platform in index order, never the
	// attestation manifest.
	rb, err = resolveBase(ctx, r.Host+"/lib/base@"+idxDigest.String(), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rb.Platforms {
		got = append(got, p.Platform.String())
	}
	if strings.Join(got, " ") != "linux/amd64 linux/arm64 linux/arm/v7" {
		t.Errorf("platforms = %v", got)
	}

	// linux/arm (no variant) matches the only arm child; a missing platform
	// lists what the base has.
	rb, err = resolveBase(ctx, base, []spec.Platform{fixture.Platform(t, "linux/arm")}, o)
	if err != nil || rb.Platforms[0].Digest != im.Manifests[2].Digest {
		t.Errorf("linux/arm: %+v, %v", rb, err)
	}
	_, err = resolveBase(ctx, base, []spec.Platform{fixture.Platform(t, "linux/s390x")}, o)
	want := "platform linux/s390x not available: the base has linux/amd64, linux/arm64, linux/arm/v7"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}

func TestBaseRegistrySingleImage(t *testing.T) {
	r := fixture.NewRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 3, false)
	d := r.Push(t, "app:v1", img)
	o := viaRegistry(t, r, "", nil)
	rb, err := resolveBase(context.Background(), r.Host+"/app:v1", nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.Platforms) != 1 || rb.Platforms[0].Digest != d || rb.Platforms[0].Platform.String() != "linux/amd64" {
		t.Fatalf("%+v", rb.Platforms)
	}
	fixture.ReadAllLayers(t, rb.Platforms[0].Image)
	_, err = resolveBase(context.Background(), r.Host+"/app:v1", []spec.Platform{fixture.Platform(t, "linux/arm64")}, o)
	if err == nil || !strings.HasSuffix(err.Error(), "platform linux/arm64 not available: the base is a single-platform image for linux/amd64") {
		t.Errorf("error = %v", err)
	}
	_, err = resolveBase(context.Background(), r.Host+"/app:nope", nil, o)
	if err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Errorf("missing tag: %v", err)
	}
}

// A base pinned by digest whose manifests, config and layers are cached
// makes no request at all.
func TestBaseRegistryDigestPinnedOffline(t *testing.T) {
	r := fixture.NewRegistry(t)
	idx := fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"))
	d := r.Push(t, "pinned:1", idx)
	cache := t.TempDir()
	base := r.Host + "/pinned@" + d.String()
	want := []spec.Platform{fixture.Platform(t, "linux/arm64")}

	rb, err := resolveBase(context.Background(), base, want, viaRegistry(t, r, cache, nil))
	if err != nil {
		t.Fatal(err)
	}
	fixture.ReadAllLayers(t, rb.Platforms[0].Image) // fetches the layers into the cache
	first := fixture.LayerDigests(t, rb.Platforms[0].Image)

	r.Transport.Failing.Store(true)
	before := r.Transport.N.Load()
	rb, err = resolveBase(context.Background(), base, want, viaRegistry(t, r, cache, nil))
	if err != nil {
		t.Fatal(err)
	}
	fixture.ReadAllLayers(t, rb.Platforms[0].Image)
	if err := validate.Image(rb.Platforms[0].Image); err != nil {
		t.Error(err)
	}
	if n := r.Transport.N.Load() - before; n != 0 {
		t.Errorf("%d requests with a warm cache, want 0:\n%s", n, r.Transport.Requests())
	}
	if got := fixture.LayerDigests(t, rb.Platforms[0].Image); len(got) != len(first) || got[0] != first[0] {
		t.Errorf("layers %v, want %v", got, first)
	}
}

// A tag needs the registry; when it can't be reached, the last cached
// resolution is used with a warning.
func TestBaseRegistryTagOffline(t *testing.T) {
	r := fixture.NewRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 4, true)
	d := r.Push(t, "tagged:v1", img)
	cache := t.TempDir()
	base := r.Host + "/tagged:v1"
	if _, err := resolveBase(context.Background(), base, nil, viaRegistry(t, r, cache, nil)); err != nil {
		t.Fatal(err)
	}
	// Warm run: one HEAD for the tag (after the /v2/ ping); manifest and
	// config come from the cache.
	mid := r.Transport.N.Load()
	if _, err := resolveBase(context.Background(), base, nil, viaRegistry(t, r, cache, nil)); err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, l := range strings.Split(r.Transport.Requests(), "\n")[mid:] {
		if l != "GET /v2/" { // the registry ping
			calls = append(calls, l)
		}
	}
	if strings.Join(calls, ";") != "HEAD /v2/tagged/manifests/v1" {
		t.Errorf("warm tag resolution made requests %q, want one HEAD", calls)
	}

	r.Transport.Failing.Store(true)
	logger, logs := fixture.LogBuffer()
	rb, err := resolveBase(context.Background(), base, nil, viaRegistry(t, r, cache, logger))
	if err != nil {
		t.Fatal(err)
	}
	if rb.Platforms[0].Digest != d {
		t.Errorf("offline digest %s, want %s", rb.Platforms[0].Digest, d)
	}
	if !strings.Contains(logs.String(), "registry unreachable; using the cached resolution of the base tag") || !strings.Contains(logs.String(), d.String()) {
		t.Errorf("no warning logged: %q", logs.String())
	}

	// A tag never resolved before cannot be used offline.
	_, err = resolveBase(context.Background(), r.Host+"/tagged:v2", nil, viaRegistry(t, r, cache, nil))
	if err == nil || !strings.Contains(err.Error(), "network is off") || !strings.Contains(err.Error(), "(no cached resolution of "+r.Host+"/tagged:v2 to use offline)") {
		t.Errorf("error = %v", err)
	}
}

// A corrupted cached blob is detected: fetched again when the registry is
// reachable, an error when it is not.
func TestBaseRegistryCorruptCache(t *testing.T) {
	r := fixture.NewRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 5, true)
	d := r.Push(t, "corrupt:v1", img)
	cache := t.TempDir()
	base := r.Host + "/corrupt@" + d.String()
	rb, err := resolveBase(context.Background(), base, nil, viaRegistry(t, r, cache, nil))
	if err != nil {
		t.Fatal(err)
	}
	fixture.ReadAllLayers(t, rb.Platforms[0].Image)
	layer := fixture.LayerDigests(t, rb.Platforms[0].Image)[0]
	store, _ := blobstore.Open(cache)
	good, _ := os.ReadFile(store.Path(layer))
	if err := os.WriteFile(store.Path(layer), []byte("not the layer"), 0o644); err != nil {
		t.Fatal(err)
	}

	logger, logs := fixture.LogBuffer()
	rb, err = resolveBase(context.Background(), base, nil, viaRegistry(t, r, cache, logger))
	if err != nil {
		t.Fatal(err)
	}
	fixture.ReadAllLayers(t, rb.Platforms[0].Image) // refetched and verified
	if got, _ := os.ReadFile(store.Path(layer)); string(got) != string(good) {
		t.Error("cached blob not repaired")
	}
	if !strings.Contains(logs.String(), "cached base blob is corrupt; fetching it again") {
		t.Errorf("no warning: %q", logs.String())
	}

	// Corrupt the cached config too, with the network off: an error, not
	// wrong bytes.
	cfgDigest, _ := rb.Platforms[0].Image.ConfigName()
	os.WriteFile(store.Path(cfgDigest), []byte("{}"), 0o644)
	r.Transport.Failing.Store(true)
	_, err = resolveBase(context.Background(), base, nil, viaRegistry(t, r, cache, nil))
	if err == nil || !strings.Contains(err.Error(), "fetching blob "+cfgDigest.String()) {
		t.Errorf("corrupt config offline: %v", err)
	}
}

// With a base resolver, registry refs never reach the network.
func TestBaseRegistryResolver(t *testing.T) {
	idx := fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"))
	var asked []string
	o := resolver{cacheDir: t.TempDir(), Options: Options{Resolver: func(ctx context.Context, ref string) (v1.Image, v1.ImageIndex, error) {
		asked = append(asked, ref)
		return nil, idx, nil
	}}}
	rb, err := resolveBase(context.Background(), "example.invalid/base:1", []spec.Platform{fixture.Platform(t, "linux/arm64")}, o)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(asked) != 1 || asked[0] != "example.invalid/base:1" {
		t.Errorf("resolver asked %v", asked)
	}
	if rb.Name != "example.invalid/base:1" || rb.Repo.String() != "example.invalid/base" || rb.Platforms[0].Digest != im.Manifests[1].Digest {
		t.Errorf("%+v", rb)
	}
}

// Layers are fetched lazily, after Resolve returns, under the context of
// the read that needs them, never Resolve's: a layer read after Resolve's
// context ended is fetched, and a read whose own context is cancelled fails
// with that context's error.
func TestBaseRegistryLazyLayersTakeTheReadersContext(t *testing.T) {
	r := fixture.NewRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 6, true)
	d := r.Push(t, "lazy:v1", img)
	ctx, cancel := context.WithCancel(context.Background())
	rb, err := resolveBase(ctx, r.Host+"/lazy@"+d.String(), nil, viaRegistry(t, r, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	cancel() // Resolve's context is over
	ls, err := rb.Platforms[0].Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	before := r.Transport.N.Load()
	rc, err := ctxio.Compressed(context.Background(), ls[0])
	if err != nil {
		t.Fatalf("first layer, after Resolve's context ended: %v", err)
	}
	if got, _, err := v1.SHA256(rc); err != nil || got != mustDigest(t, ls[0]) {
		t.Errorf("first layer read back %s, %v", got, err)
	}
	rc.Close()
	if r.Transport.N.Load() == before {
		t.Error("the layer was not fetched lazily")
	}
	readCtx, cancelRead := context.WithCancel(context.Background())
	cancelRead()
	if _, err := ctxio.Compressed(readCtx, ls[1]); !errors.Is(err, context.Canceled) {
		t.Errorf("second layer, reader's context cancelled: err = %v, want context.Canceled", err)
	}
}

// mustDigest returns l's digest.
func mustDigest(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Base layers served from the cache are hard-linked into a layout, not
// copied.
func TestCachedLayersLinkedIntoLayout(t *testing.T) {
	r := fixture.NewRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 40, true)
	d := r.Push(t, "linked:v1", img)
	rb, err := resolveBase(context.Background(), r.Host+"/linked:v1", nil, viaRegistry(t, r, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := oci.WriteLayout(context.Background(), dir, oci.Artifact{Image: rb.Platforms[0].Image}, []string{"v1"}, oci.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	a, err := oci.ReadLayout(spec.Location{Kind: spec.LocationLayout, Dir: dir, Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Digest(); err != nil || got != d {
		t.Errorf("layout v1 = %s, %v; want %s", got, err, d)
	}
	for _, l := range fixture.LayerDigests(t, img) {
		fi, err := os.Stat(filepath.Join(dir, "blobs", "sha256", l.Hex))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Nlink != 2 {
			t.Errorf("layer %s has %d links, want 2 (cache + layout)", l, st.Nlink)
		}
	}
}
