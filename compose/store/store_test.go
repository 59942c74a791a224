package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/oci"
)

// fixture writes a store with three images (two sharing a layer) and a
// cache with three files, and ages some of them.
func fixture(t *testing.T) (storeDir, cacheDir string, digests map[string]v1.Hash) {
	t.Helper()
	root := t.TempDir()
	storeDir, cacheDir = filepath.Join(root, "data", "oci"), filepath.Join(root, "cache")
	shared, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	other, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	digests = map[string]v1.Hash{}
	for ref, img := range map[string]v1.Image{"r/a:old": shared, "r/b:new": shared, "r/c:new": other} {
		if err := oci.WriteLayout(context.Background(), storeDir, oci.Artifact{Image: img}, []string{ref}, oci.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		digests[ref] = d
	}
	for _, f := range []string{"blobs/sha256/aa", "layers/content-x.json", "refs/r"} {
		p := filepath.Join(cacheDir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return storeDir, cacheDir, digests
}

// age sets the mtime of path back by d.
func age(t *testing.T, path string, d time.Duration) {
	t.Helper()
	then := time.Now().Add(-d)
	if err := os.Chtimes(path, then, then); err != nil {
		t.Fatal(err)
	}
}

func refs(imgs []Image) []string {
	var out []string
	for _, i := range imgs {
		out = append(out, i.Ref)
	}
	return out
}

func TestPruneOlderThan(t *testing.T) {
	storeDir, cacheDir, digests := fixture(t)
	// r/a:old shares its manifest with r/b:new: age a different image.
	age(t, filepath.Join(storeDir, "blobs", "sha256", digests["r/c:new"].Hex), 48*time.Hour)
	age(t, filepath.Join(cacheDir, "refs", "r"), 48*time.Hour)

	rep, err := Prune(storeDir, cacheDir, PruneOptions{OlderThan: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(rep.Images); !reflect.DeepEqual(got, []string{"r/c:new"}) {
		t.Errorf("removed images %v, want [r/c:new]", got)
	}
	if rep.CacheEntries != 1 || rep.CacheBytes != 100 {
		t.Errorf("removed %d cache entries (%d bytes), want 1 (100)", rep.CacheEntries, rep.CacheBytes)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "refs", "r")); !os.IsNotExist(err) {
		t.Errorf("old cache entry kept: %v", err)
	}
	imgs, err := Images(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(imgs); !reflect.DeepEqual(got, []string{"r/a:old", "r/b:new"}) {
		t.Errorf("left %v", got)
	}
	// What is left is a valid layout, and the removed image's blobs are gone.
	idx, err := layout.ImageIndexFromPath(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("store after prune: %v", err)
	}
	if _, err := os.Stat(filepath.Join(storeDir, "blobs", "sha256", digests["r/c:new"].Hex)); !os.IsNotExist(err) {
		t.Errorf("removed image's manifest kept: %v", err)
	}
	if rep.StoreBytes <= 0 {
		t.Errorf("store bytes freed = %d", rep.StoreBytes)
	}
}

func TestPruneMaxSize(t *testing.T) {
	storeDir, cacheDir, digests := fixture(t)
	age(t, filepath.Join(storeDir, "blobs", "sha256", digests["r/c:new"].Hex), 3*time.Hour)
	age(t, filepath.Join(cacheDir, "blobs", "sha256", "aa"), 2*time.Hour)
	age(t, filepath.Join(cacheDir, "layers", "content-x.json"), 1*time.Hour)
	// Room for everything but the oldest image and the oldest cache entry.
	before, _ := dirSize(storeDir)
	before += 300
	freedC := int64(0)
	{
		imgs, _ := Images(storeDir)
		for _, i := range imgs {
			if i.Ref == "r/c:new" {
				freedC = i.Size
			}
		}
	}
	limit := before - freedC - 100
	rep, err := Prune(storeDir, cacheDir, PruneOptions{MaxSize: &limit})
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(rep.Images); !reflect.DeepEqual(got, []string{"r/c:new"}) || rep.CacheEntries != 1 {
		t.Errorf("removed %v and %d cache entries; want the oldest of each", got, rep.CacheEntries)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "blobs", "sha256", "aa")); !os.IsNotExist(err) {
		t.Errorf("oldest cache entry kept")
	}
	if rep.Left > limit {
		t.Errorf("left %d bytes, over the limit %d", rep.Left, limit)
	}
}

// TestPruneInUse: while another process (here, another open file
// description) uses the cache or the store, prune removes nothing.
func TestPruneInUse(t *testing.T) {
	storeDir, cacheDir, _ := fixture(t)
	for _, dir := range []string{storeDir, cacheDir} {
		release, err := Use(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Prune(storeDir, cacheDir, PruneOptions{OlderThan: time.Nanosecond})
		release()
		if !errors.Is(err, ErrInUse) {
			t.Fatalf("%s in use: err = %v, want ErrInUse", dir, err)
		}
		imgs, _ := Images(storeDir)
		if len(imgs) != 3 {
			t.Errorf("%s in use: prune removed images anyway", dir)
		}
	}
	// Released: prune runs.
	rep, err := Prune(storeDir, cacheDir, PruneOptions{OlderThan: time.Nanosecond})
	if err != nil || len(rep.Images) != 3 || rep.CacheEntries != 3 {
		t.Errorf("after release: %+v, %v", rep, err)
	}
}

func TestImagesEmptyStore(t *testing.T) {
	imgs, err := Images(filepath.Join(t.TempDir(), "none"))
	if err != nil || imgs != nil {
		t.Errorf("Images of a missing store = %v, %v", imgs, err)
	}
}
