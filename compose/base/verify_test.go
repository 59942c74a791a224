package base

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// tarOf returns an uncompressed tar holding one file.
func tarOf(t *testing.T, name, body string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	return b.Bytes()
}

// writeLayout writes img as the only image of a new layout.
func writeLayout(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}

// goodImage is a linux/amd64 image with one gzip layer.
func goodImage(t *testing.T) v1.Image {
	t.Helper()
	raw := tarOf(t, "etc/hello", "hello")
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestLayoutBaseVerified (issue 13 point 6): an OCI-layout base whose
// config's diff_ids do not match its layer, whose uncompressed layer is
// labelled +gzip, or whose manifest was edited under its old digest is
// refused; the same image untouched resolves.
func TestLayoutBaseVerified(t *testing.T) {
	resolve := func(dir string) error {
		_, err := Resolve(context.Background(), "oci:"+dir, nil, t.TempDir(), Options{})
		return err
	}
	t.Run("untouched", func(t *testing.T) {
		if err := resolve(writeLayout(t, goodImage(t))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("diff_ids do not match", func(t *testing.T) {
		img := goodImage(t)
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.RootFS.DiffIDs[0] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
		bad, err := mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		err = resolve(writeLayout(t, bad))
		if err == nil || !strings.Contains(err.Error(), "but the config's diff_id is sha256:0000000000000000000000000000000000000000000000000000000000000000") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("uncompressed layer labelled gzip", func(t *testing.T) {
		raw := tarOf(t, "etc/hello", "hello")
		img, err := mutate.AppendLayers(empty.Image, static.NewLayer(raw, types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf.OS, cf.Architecture = "linux", "amd64"
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		err = resolve(writeLayout(t, img))
		if err == nil || !strings.Contains(err.Error(), "says gzip, but the blob is not gzip-compressed") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("manifest edited under its old digest", func(t *testing.T) {
		img := goodImage(t)
		dir := writeLayout(t, img)
		d, _ := img.Digest()
		p := filepath.Join(dir, "blobs", "sha256", d.Hex)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		err = resolve(dir)
		if err == nil || !strings.Contains(err.Error(), "manifest "+d.String()+": content hashes to sha256:") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestLocalBaseFIFO (issue 13 point 5): a FIFO as a layout's index.json, as
// one of its blobs, or as a docker-archive file is refused at once instead
// of hanging the build.
func TestLocalBaseFIFO(t *testing.T) {
	fifo := func(t *testing.T, p string) {
		t.Helper()
		os.Chmod(p, 0o644)
		os.Remove(p)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := goodImage(t)
	m, _ := img.Manifest()
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string // returns the location
		want string
	}{
		{"layout index.json", func(t *testing.T) string {
			dir := writeLayout(t, img)
			fifo(t, filepath.Join(dir, "index.json"))
			return "oci:" + dir
		}, "index.json is not a regular file"},
		{"layout layer blob", func(t *testing.T) string {
			dir := writeLayout(t, img)
			fifo(t, filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Hex))
			return "oci:" + dir
		}, "blob " + m.Layers[0].Digest.String() + " is not a regular file"},
		{"docker archive", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "b.tar")
			fifo(t, p)
			return "docker-archive:" + p
		}, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := tc.make(t)
			done := make(chan error, 1)
			go func() {
				_, err := Resolve(context.Background(), loc, nil, t.TempDir(), Options{})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Resolve hangs on a FIFO")
			}
		})
	}
}
