package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/fixture"
)

// layoutRefs reads dir/index.json and returns ref name → digest.
func layoutRefs(t testing.TB, dir string) map[string]v1.Hash {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(b, &im); err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.Hash{}
	for _, d := range im.Manifests {
		r := d.Annotations[RefNameAnnotation]
		if _, dup := out[r]; dup {
			t.Errorf("ref %q listed twice", r)
		}
		out[r] = d.Digest
	}
	return out
}

// checkLayout validates the layout with ggcr and checks that every blob
// hashes to its name.
func checkLayout(t testing.TB, dir string) {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate.Index: %v", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(f)
		f.Close()
		if err != nil || h.Hex != e.Name() {
			t.Errorf("blob %s hashes to %s (%v)", e.Name(), h, err)
		}
	}
}

// noTemps fails if any file or directory under dir (recursively) or beside
// it carries the temporary prefix.
func noTemps(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(filepath.Dir(dir), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), atomicfile.TempPrefix) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestOutputLayout(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "nested", "layout")
	imgA := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 11, true)
	idxB := fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"))
	imgC := fixture.Image(t, fixture.Platform(t, "linux/arm64"), 12, true)
	dA, _ := imgA.Digest()
	dB, _ := idxB.Digest()
	dC, _ := imgC.Digest()

	if err := writeLayout(ctx, dir, Artifact{Image: imgA}, "a"); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir)
	if got := layoutRefs(t, dir); len(got) != 1 || got["a"] != dA {
		t.Fatalf("refs = %v", got)
	}
	if err := writeLayout(ctx, dir, Artifact{Index: idxB}, "b"); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir)
	if got := layoutRefs(t, dir); len(got) != 2 || got["a"] != dA || got["b"] != dB {
		t.Fatalf("refs = %v", got)
	}
	// Re-writing ref a replaces it; b stays.
	if err := writeLayout(ctx, dir, Artifact{Image: imgC}, "a"); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir)
	if got := layoutRefs(t, dir); len(got) != 2 || got["a"] != dC || got["b"] != dB {
		t.Fatalf("refs = %v", got)
	}
	noTemps(t, dir)

	// The image reads back with the same digests, and the index entry of a
	// single image carries its platform.
	l, _ := layout.FromPath(dir)
	back, err := l.Image(dC)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := back.Digest(); d != dC {
		t.Errorf("read back %s, want %s", d, dC)
	}
	idx, _ := l.ImageIndex()
	im, _ := idx.IndexManifest()
	for _, d := range im.Manifests {
		if d.Digest == dC && (d.Platform == nil || d.Platform.String() != "linux/arm64") {
			t.Errorf("platform of a = %v", d.Platform)
		}
	}

	// Bad targets.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	if err := writeLayout(ctx, file, Artifact{Image: imgA}, "a"); err == nil || !strings.Contains(err.Error(), "exists and is not a directory") {
		t.Errorf("file target: %v", err)
	}
	notLayout := t.TempDir()
	os.WriteFile(filepath.Join(notLayout, "README"), []byte("x"), 0o644)
	if err := writeLayout(ctx, notLayout, Artifact{Image: imgA}, "a"); err == nil || !strings.Contains(err.Error(), "exists and is not an OCI image layout (no oci-layout file)") {
		t.Errorf("non-layout target: %v", err)
	}
	if err := writeLayout(ctx, dir, Artifact{Image: imgA}, ""); err == nil || err.Error() != "writing layout "+dir+": empty ref name" {
		t.Errorf("empty ref: %v", err)
	}
	// An existing empty directory is filled in place.
	empty := t.TempDir()
	if err := writeLayout(ctx, empty, Artifact{Image: imgA}, "a"); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, empty)
}

// A layer whose bytes do not match its digest is refused and leaves nothing.
func TestOutputLayoutBadBlob(t *testing.T) {
	img := &lyingImage{fixture.Image(t, fixture.Platform(t, "linux/amd64"), 13, true)}
	dir := filepath.Join(t.TempDir(), "out")
	err := writeLayout(context.Background(), dir, Artifact{Image: img}, "a")
	if err == nil || !strings.Contains(err.Error(), "content hashes to sha256:") {
		t.Fatalf("error = %v", err)
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("output exists after failure: %v", serr)
	}
	noTemps(t, dir)
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	err = writeTarball(context.Background(), tarPath, Artifact{Image: img}, nil)
	if err == nil || !strings.Contains(err.Error(), "content hashes to sha256:") {
		t.Fatalf("tarball error = %v", err)
	}
	if _, serr := os.Stat(tarPath); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("tarball exists after failure: %v", serr)
	}
	noTemps(t, tarPath)
}

// lyingImage serves other bytes than its layers' digests promise.
type lyingImage struct{ v1.Image }

func (l *lyingImage) Layers() ([]v1.Layer, error) {
	ls, err := l.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, x := range ls {
		out[i] = &lyingLayer{x}
	}
	return out, nil
}

type lyingLayer struct{ v1.Layer }

func (l *lyingLayer) Compressed() (io.ReadCloser, error) {
	n, _ := l.Size()
	return io.NopCloser(bytes.NewReader(bytes.Repeat([]byte{'x'}, int(n)))), nil
}

// failAfter is a write seam that fails once n bytes have gone through all
// files written with it.
type failAfter struct {
	mu   sync.Mutex
	left int64
}

var errInjected = errors.New("injected write failure")

func (f *failAfter) seam(w io.Writer) io.Writer { return &failWriter{f: f, w: w} }

type failWriter struct {
	f *failAfter
	w io.Writer
}

func (fw *failWriter) Write(p []byte) (int, error) {
	fw.f.mu.Lock()
	if fw.f.left < int64(len(p)) {
		n := fw.f.left
		fw.f.left = 0
		fw.f.mu.Unlock()
		fw.w.Write(p[:n])
		return int(n), errInjected
	}
	fw.f.left -= int64(len(p))
	fw.f.mu.Unlock()
	return fw.w.Write(p)
}

// seamTotal returns how many bytes write sends through its seam.
func seamTotal(t *testing.T, write func(writeSeam) error) int64 {
	t.Helper()
	f := &failAfter{left: 1 << 40}
	if err := write(f.seam); err != nil {
		t.Fatal(err)
	}
	return 1<<40 - f.left
}

// sweep returns failure points spread over [0, total), ending in total-1 (the
// last byte of the last file written).
func sweep(total int64) []int64 {
	out := []int64{0, 1}
	for i := int64(1); i < 8; i++ {
		out = append(out, total*i/8)
	}
	return append(out, total-1)
}

func TestOutputAtomicLayout(t *testing.T) {
	ctx := context.Background()
	imgA := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 21, true)
	idxB := fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"))
	dA, _ := imgA.Digest()
	total := seamTotal(t, func(s writeSeam) error {
		return writeLayoutSeam(ctx, filepath.Join(t.TempDir(), "x"), Artifact{Index: idxB}, "b", s)
	})
	for _, n := range sweep(total) {
		// A new layout: nothing at all after a failure.
		dir := filepath.Join(t.TempDir(), "out")
		err := writeLayoutSeam(ctx, dir, Artifact{Index: idxB}, "b", (&failAfter{left: n}).seam)
		if !errors.Is(err, errInjected) {
			t.Fatalf("n=%d: error = %v, want the injected failure", n, err)
		}
		if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("n=%d: new layout exists after failure", n)
		}
		noTemps(t, dir)

		// An existing layout: unchanged (index.json byte for byte) and valid.
		if err := writeLayout(ctx, dir, Artifact{Image: imgA}, "a"); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(filepath.Join(dir, "index.json"))
		err = writeLayoutSeam(ctx, dir, Artifact{Index: idxB}, "b", (&failAfter{left: n}).seam)
		if !errors.Is(err, errInjected) {
			t.Fatalf("n=%d: error = %v, want the injected failure", n, err)
		}
		after, _ := os.ReadFile(filepath.Join(dir, "index.json"))
		if !bytes.Equal(before, after) {
			t.Errorf("n=%d: index.json changed by a failed write", n)
		}
		checkLayout(t, dir)
		if got := layoutRefs(t, dir); len(got) != 1 || got["a"] != dA {
			t.Errorf("n=%d: refs = %v", n, got)
		}
		noTemps(t, dir)
	}
}

func TestOutputAtomicTarball(t *testing.T) {
	ctx := context.Background()
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 22, false)
	tag, _ := name.NewTag("example.com/app:v1")
	total := seamTotal(t, func(s writeSeam) error {
		return writeTarballSeam(ctx, filepath.Join(t.TempDir(), "x.tar"), Artifact{Image: img}, nil, s)
	})
	for _, n := range sweep(total) {
		path := filepath.Join(t.TempDir(), "img.tar")
		err := writeTarballSeam(ctx, path, Artifact{Image: img}, []name.Tag{tag}, (&failAfter{left: n}).seam)
		if !errors.Is(err, errInjected) {
			t.Fatalf("n=%d: error = %v", n, err)
		}
		if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("n=%d: tarball exists after failure", n)
		}
		// The previous tarball survives a failed rewrite.
		if err := writeTarball(ctx, path, Artifact{Image: img}, []name.Tag{tag}); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		err = writeTarballSeam(ctx, path, Artifact{Image: img}, nil, (&failAfter{left: n}).seam)
		if !errors.Is(err, errInjected) {
			t.Fatalf("n=%d: error = %v", n, err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("n=%d: tarball changed by a failed write", n)
		}
		noTemps(t, path)
	}
}

func TestOutputTarball(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t1, _ := name.NewTag("example.com/app:v1")
	t2, _ := name.NewTag("example.com/app:latest")

	// Docker media types: the manifest digest survives the round trip.
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 50, false)
	p := filepath.Join(dir, "docker.tar")
	if err := writeTarball(ctx, p, Artifact{Image: img}, []name.Tag{t1, t2}); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	for _, tag := range []name.Tag{t1, t2} {
		back, err := tarball.ImageFromPath(p, &tag)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := back.Digest(); d != want {
			t.Errorf("%s: digest %s, want %s", tag, d, want)
		}
		if err := validate.Image(back); err != nil {
			t.Error(err)
		}
	}

	// An index with one platform (and an attestation) in OCI media types:
	// docker-save stores no manifest, so reading back gives
	// Docker types; config and layers are the same bytes.
	idx := fixture.Index(t, fixture.Platform(t, "linux/arm64"))
	p = filepath.Join(dir, "oci.tar")
	if err := writeTarball(ctx, p, Artifact{Index: idx}, nil); err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	oci, _ := idx.Image(im.Manifests[0].Digest)
	back, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustConfigName(t, back), mustConfigName(t, oci); a != b {
		t.Errorf("config %s, want %s", a, b)
	}
	if a, b := fixture.LayerDigests(t, back), fixture.LayerDigests(t, oci); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("layers %v, want %v", a, b)
	}
	noTemps(t, p)

	multi := fixture.Index(t, fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64"))
	err = writeTarball(ctx, filepath.Join(dir, "multi.tar"), Artifact{Index: multi}, nil)
	if err == nil || !strings.HasSuffix(err.Error(), "a docker tarball holds one platform, but the image has 2 (linux/amd64, linux/arm64); build a single platform or write an OCI layout") {
		t.Errorf("multi-platform error = %v", err)
	}
}

func mustConfigName(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOutputLayoutFailedAddNoOrphans (issue 13 point 9): adding an image
// whose layer cannot be written to an existing layout leaves neither its
// config nor its manifest behind (they are written only after every layer).
func TestOutputLayoutFailedAddNoOrphans(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	good := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 11, true)
	if err := writeLayout(context.Background(), dir, Artifact{Image: good}, "good"); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	bad := &lyingImage{fixture.Image(t, fixture.Platform(t, "linux/amd64"), 12, true)}
	err = writeLayout(context.Background(), dir, Artifact{Image: bad}, "bad")
	if err == nil || !strings.Contains(err.Error(), "content hashes to sha256:") {
		t.Fatalf("error = %v", err)
	}
	cfg, _ := bad.ConfigName()
	m, _ := bad.Digest()
	for _, h := range []v1.Hash{cfg, m} {
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", h.Hex)); err == nil {
			t.Errorf("blob %s of the failed image was left in the layout", h)
		}
	}
	after, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if len(after) != len(before) {
		t.Errorf("%d blobs before, %d after the failed add", len(before), len(after))
	}
	noTemps(t, dir)
}
