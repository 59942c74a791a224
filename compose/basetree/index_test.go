package basetree

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestTreeIndexRoundTrip(t *testing.T) {
	recs := []treeRec{{recDir, "etc", ""}, {recSymlink, "lib", "usr/lib"}, {recFile, "odd\nname", ""}, {recWhiteout, "x", ""}}
	file := filepath.Join(t.TempDir(), "i.gz")
	if err := writeTreeIndex(file, recs); err != nil {
		t.Fatal(err)
	}
	got, err := readTreeIndex(file)
	if err != nil || len(got) != len(recs) {
		t.Fatalf("readTreeIndex = %v, %v", got, err)
	}
	for i := range recs {
		if got[i] != recs[i] {
			t.Errorf("rec %d = %+v, want %+v", i, got[i], recs[i])
		}
	}
}

// bigBaseLayer is a gzip layer of n entries: 1 directory per 50 files, each
// file with 1 KiB of content.
func bigBaseLayer(b *testing.B, n int) v1.Layer {
	b.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	body := bytes.Repeat([]byte("x"), 1024)
	for i := 0; i < n; i++ {
		if i%50 == 0 {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("usr/share/d%05d/", i/50), Typeflag: tar.TypeDir, Mode: 0o755})
			continue
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("usr/share/d%05d/file-%06d.txt", i/50, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(tb.Bytes())
	zw.Close()
	blob := zb.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil })
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkBaseTreeIndex measures indexing a 50 000-entry base layer (about
// 50 MB uncompressed): scanning its headers, reading the cached index, and
// building the merged tree from the records.
func BenchmarkBaseTreeIndex(b *testing.B) {
	const n = 50000
	l := bigBaseLayer(b, n)
	ctx := context.Background()
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			if _, err := baseLayerIndex(ctx, l, b.TempDir(), false, false, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	cache := b.TempDir()
	recs, err := baseLayerIndex(ctx, l, cache, true, false, nil, nil)
	if err != nil || len(recs) != n {
		b.Fatalf("%d records, %v", len(recs), err)
	}
	b.Run("cached", func(b *testing.B) {
		files, _ := filepath.Glob(filepath.Join(cache, "treeindex", "*.gz"))
		if len(files) != 1 {
			b.Fatalf("index files %v", files)
		}
		for b.Loop() {
			if _, err := baseLayerIndex(ctx, l, cache, true, false, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		if fi, err := os.Stat(files[0]); err == nil {
			b.ReportMetric(float64(fi.Size()), "index-bytes")
		}
	})
	b.Run("tree", func(b *testing.B) {
		for b.Loop() {
			newTree().apply(recs, -1)
		}
	})
}

// TestShownEscapesControlCharacters: names from a base are printed without
// terminal escape sequences.
func TestShownEscapesControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"usr/lib":                            "usr/lib",
		"\x1b[31mRED\x1b[0m\x1b]0;pwned\x07": `\x1b[31mRED\x1b[0m\x1b]0;pwned\a`,
		"caf\u00e9":                          "caf\u00e9", // printable: kept
	} {
		if got := shown(in); got != want {
			t.Errorf("shown(%q) = %q, want %q", in, got, want)
		}
	}
}

// An index file can come from a registry cache (CheckIndex, Preloaded):
// the decoder takes only known kinds, names and links of at most
// maxTreeName bytes, and a bounded decompressed size, so a crafted file is
// an error, never a gigabyte of memory.
func TestDecodeTreeIndexRefusesHostileFiles(t *testing.T) {
	gz := func(body string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(treeIndexFormat + body))
		zw.Close()
		return buf.Bytes()
	}
	good, err := encodeTreeIndex([]treeRec{{kind: recDir, name: "etc"}, {kind: recSymlink, name: "lib", link: "usr/lib"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckIndex(good); err != nil {
		t.Fatalf("a good index: %v", err)
	}
	for _, tc := range []struct {
		name, err string
		data      []byte
	}{
		{"unknown kind", `unknown kind 'x'`, gz("xetc\x00\x00\nend 1\n")},
		{"name over maxTreeName", "over 4096 bytes", gz("f" + strings.Repeat("a", maxTreeName+1) + "\x00\x00\nend 1\n")},
		{"link over maxTreeName", "over 4096 bytes", gz("letc\x00" + strings.Repeat("a", 1<<20) + "\x00\nend 1\n")},
		{"short count", "truncated", gz("detc\x00\x00\nend 2\n")},
		{"not gzip", "EOF", []byte("not gzip")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckIndex(tc.data); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("CheckIndex = %v, want an error with %q", err, tc.err)
			}
		})
	}
	// The decompressed size is bounded (here at 1 KiB instead of 256 MiB).
	big := gz(strings.Repeat("detc\x00\x00", 1000) + "\nend 1000\n")
	if _, err := decodeTreeIndexMax(bytes.NewReader(big), 1<<10); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("over the size limit: %v", err)
	}
	if recs, err := decodeTreeIndexMax(bytes.NewReader(big), 1<<20); err != nil || len(recs) != 1000 {
		t.Errorf("under the size limit: %d records, %v", len(recs), err)
	}
}
