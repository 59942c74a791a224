package oci

import (
	"context"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fileLayer is a layer whose compressed bytes are a file (no gzip needed for
// the sinks, which copy and hash blobs as they are).
type fileLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

// benchImage returns an image with one size-byte layer stored in a file.
func benchImage(b *testing.B, size int64) v1.Image {
	b.Helper()
	p := filepath.Join(b.TempDir(), "blob")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.New(rand.NewSource(1)), size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	f, _ = os.Open(p)
	h, n, err := v1.SHA256(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	l, err := partial.CompressedToLayer(&fileLayer{path: p, digest: h, size: n})
	if err != nil {
		b.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		b.Fatal(err)
	}
	return img
}

// BenchmarkOutputLayout measures writing a 64 MiB layer into a new layout
// (copy + hash + fsync + rename).
func BenchmarkOutputLayout(b *testing.B) {
	const size = 64 << 20
	img := benchImage(b, size)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if err := writeLayout(context.Background(), filepath.Join(b.TempDir(), "out"), Artifact{Image: img}, "x"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOutputTarball measures writing the same image as a docker tarball.
func BenchmarkOutputTarball(b *testing.B) {
	const size = 64 << 20
	img := benchImage(b, size)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if err := writeTarball(context.Background(), filepath.Join(b.TempDir(), "img.tar"), Artifact{Image: img}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
