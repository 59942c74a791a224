package oci

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchiveTarBounded (issue 13 point 9): a gzip docker archive expanding
// past its limit (a gzip bomb) fails with an error naming the limit and
// leaves nothing in the cache; within the limit it expands.
func TestArchiveTarBounded(t *testing.T) {
	if got := archiveLimit(10); got != archiveFloor {
		t.Errorf("limit of a tiny archive = %d, want the floor %d", got, archiveFloor)
	}
	if got := archiveLimit(100 << 20); got != 200*(100<<20) {
		t.Errorf("limit of 100 MiB = %d", got)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(make([]byte, 8<<20)) // 8 MiB of zeros: about 8 KiB compressed
	zw.Close()
	file := filepath.Join(t.TempDir(), "bomb.tar.gz")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	ratioLimit := func(n int64) int64 { return n * archiveRatio }
	_, err := archiveTar(context.Background(), file, cache, ratioLimit)
	if err == nil || !strings.Contains(err.Error(), "(the limit against gzip bombs: 200 times its compressed size, at least 1 GiB); decompress it yourself (gunzip) and use the .tar") {
		t.Fatalf("err = %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(cache, "archives"))
	if len(ents) != 0 {
		t.Errorf("left in the cache: %v", ents)
	}
	if _, err := archiveTar(context.Background(), file, cache, func(int64) int64 { return 8 << 20 }); err != nil {
		t.Fatalf("within the limit: %v", err)
	}
}
