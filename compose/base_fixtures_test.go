package compose

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/spec"
)

// testImage returns a random two-layer image whose config names platform p.
// oci selects OCI media types for manifest, config and layers (else Docker's).
func testImage(t testing.TB, p spec.Platform, seed int64, oci bool) v1.Image {
	t.Helper()
	lt := types.DockerLayer
	if oci {
		lt = types.OCILayer
	}
	var img v1.Image = empty.Image
	for i := range int64(2) {
		l, err := random.Layer(300, lt, random.WithSource(rand.NewSource(seed*10+i)))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if oci {
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	return img
}

// testIndex returns an OCI index with one image per platform, in order, plus
// an attestation-style manifest (platform unknown/unknown) that bases must
// never pick.
func testIndex(t testing.TB, plats ...spec.Platform) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for i, p := range plats {
		img := testImage(t, p, int64(100+i), true)
		adds = append(adds, mutate.IndexAddendum{Add: noArtifactType{img}, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		}})
	}
	att := testImage(t, spec.Platform{OS: "unknown", Architecture: "unknown"}, 99, true)
	adds = append(adds, mutate.IndexAddendum{Add: noArtifactType{att}, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
	}})
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
}

// noArtifactType keeps ggcr from writing "artifactType" (the config media
// type) into index descriptors of plain images: skopeo 1.9.3 cannot copy
// such an index with --preserve-digests.
type noArtifactType struct{ v1.Image }

func (noArtifactType) ArtifactType() (string, error) { return "", nil }

// plat parses a platform or fails the test.
func plat(t testing.TB, s string) spec.Platform {
	t.Helper()
	p, err := spec.ParsePlatform(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// countingTransport counts requests and, when failing is set, fails every
// one without touching the network.
type countingTransport struct {
	next    http.RoundTripper
	n       atomic.Int64
	failing atomic.Bool
	mu      sync.Mutex
	log     []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	c.mu.Lock()
	c.log = append(c.log, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	if c.failing.Load() {
		return nil, errors.New("test transport: network is off")
	}
	return c.next.RoundTrip(r)
}

// requests returns the request log, one "METHOD PATH" per request.
func (c *countingTransport) requests() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "\n")
}

// testRegistry serves ggcr's in-process registry on loopback.
type testRegistry struct {
	host string
	tr   *countingTransport
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &testRegistry{
		host: strings.TrimPrefix(srv.URL, "http://"),
		tr:   &countingTransport{next: http.DefaultTransport},
	}
}

// push writes an image or index to repo:tag and returns its digest.
func (r *testRegistry) push(t testing.TB, repoTag string, x remote.Taggable) v1.Hash {
	t.Helper()
	ref, err := name.NewTag(r.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	switch v := x.(type) {
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, v)
	case v1.Image:
		err = remote.Write(ref, v)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// options returns build options that reach this registry through the
// counting transport, with the cache in a fresh temp dir unless cacheDir is
// given.
func (r *testRegistry) options(t testing.TB, cacheDir string, logger *slog.Logger) *options {
	t.Helper()
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	o, err := makeOptions(WithCacheDir(cacheDir), WithLogger(logger),
		WithRemote(remote.WithTransport(r.tr), remote.WithRetryBackoff(remote.Backoff{Steps: 1})))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// readAllLayers reads every layer's compressed bytes and checks they hash to
// the layer's digest.
func readAllLayers(t testing.TB, img v1.Image) {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		want, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer %s: %v", want, err)
		}
		got, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || got != want {
			t.Fatalf("layer %s: read back %s, %v", want, got, err)
		}
	}
}

// logBuffer is a slog logger writing into a buffer, for warning assertions.
func logBuffer() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gzipFile writes a gzip-compressed copy of src to dst.
func gzipFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
