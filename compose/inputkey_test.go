package compose

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/strata-build/strata/spec"
)

// keySpec is a two-layer scratch spec reading a.txt and b/ from dir.
func keySpec(dir string) *spec.Spec {
	return &spec.Spec{Base: "scratch", Context: dir, Image: "r.local/k", Tags: []string{"dev"}, Layers: []spec.Layer{
		{Name: "a", Files: []spec.File{{Src: "a.txt", Dest: "/a.txt"}}},
		{Name: "b", Files: []spec.File{{Src: "b/**", Dest: "/b/"}}},
	}}
}

func writeKeyTree(t *testing.T, dir, a string) {
	t.Helper()
	for p, c := range map[string]string{"a.txt": a, "b/x": "x", "b/y/z": "zz"} {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKeys: Keys gives the key Build records without writing a layer; the
// key does not depend on the checkout's directory, the cache or the tags,
// and changes with one input byte.
func TestKeys(t *testing.T) {
	ctx := context.Background()
	d1, d2 := t.TempDir(), t.TempDir()
	writeKeyTree(t, d1, "one")
	writeKeyTree(t, d2, "one")
	cache1 := t.TempDir()
	keys, err := Keys(ctx, []*spec.Spec{keySpec(d1)}, nil, cache1)
	if err != nil {
		t.Fatal(err)
	}
	k := keys[0].Key
	if len(k) != 64 || keys[0].Artifact.Image != nil || keys[0].Artifact.Index != nil {
		t.Fatalf("Keys = %+v; want a 64-hex key and no artifact", keys[0])
	}
	if ents, _ := os.ReadDir(cache1); len(ents) != 0 {
		t.Errorf("Keys wrote %d entries to the cache directory", len(ents))
	}
	res, err := Build(ctx, keySpec(d1), cache1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Key != k {
		t.Errorf("Build key %s, Keys %s", res.Key, k)
	}
	// A stat hit (the inputs untouched since the build) keeps the key.
	again, err := Build(ctx, keySpec(d1), cache1)
	if err != nil {
		t.Fatal(err)
	}
	if again.Key != k || again.Digest != res.Digest {
		t.Errorf("rebuild: key %s digest %s; want %s %s", again.Key, again.Digest, k, res.Digest)
	}
	s2 := keySpec(d2)
	s2.Tags = []string{"other"}
	other, err := Keys(ctx, []*spec.Spec{s2}, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if other[0].Key != k {
		t.Errorf("same inputs elsewhere: key %s, want %s", other[0].Key, k)
	}
	writeKeyTree(t, d2, "two")
	changed, err := Keys(ctx, []*spec.Spec{keySpec(d2)}, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if changed[0].Key == k {
		t.Error("a changed input kept the key")
	}
	// The created time is an input.
	late, err := Keys(ctx, []*spec.Spec{keySpec(d1)}, nil, cache1, WithCreated(time.Unix(1700000000, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if late[0].Key == k {
		t.Error("another created time kept the key")
	}
}

// TestResultBytes: a cold build reads and compresses, a rebuild from the
// layer cache's stat records does neither, and Keys reads without
// compressing.
func TestResultBytes(t *testing.T) {
	ctx := context.Background()
	dir, cache := t.TempDir(), t.TempDir()
	writeKeyTree(t, dir, "0123456789")
	k, err := Keys(ctx, []*spec.Spec{keySpec(dir)}, nil, cache)
	if err != nil {
		t.Fatal(err)
	}
	if k[0].BytesRead != 13 || k[0].BytesCompressed != 0 {
		t.Errorf("Keys: read %d compressed %d; want 13, 0", k[0].BytesRead, k[0].BytesCompressed)
	}
	res, err := Build(ctx, keySpec(dir), cache)
	if err != nil {
		t.Fatal(err)
	}
	var blobs int64
	for _, l := range res.Platforms[0].Layers {
		blobs += l.Size
	}
	if res.BytesRead != 13 || res.BytesCompressed != blobs || blobs == 0 {
		t.Errorf("cold build: read %d compressed %d; want 13, %d", res.BytesRead, res.BytesCompressed, blobs)
	}
}

// TestKeysWithKeyed: the callback sees every spec once, with the key Keys
// returns, before Keys returns.
func TestKeysWithKeyed(t *testing.T) {
	ctx := context.Background()
	d1, d2 := t.TempDir(), t.TempDir()
	writeKeyTree(t, d1, "one")
	writeKeyTree(t, d2, "two")
	var mu sync.Mutex
	seen := map[int]string{}
	keys, err := Keys(ctx, []*spec.Spec{keySpec(d1), keySpec(d2)}, nil, t.TempDir(), WithKeyed(func(i int, r *Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := seen[i]; dup {
			t.Errorf("spec %d keyed twice", i)
		}
		seen[i] = r.Key
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != keys[0].Key || seen[1] != keys[1].Key || seen[0] == seen[1] {
		t.Errorf("keyed %v; Keys gave %s, %s", seen, keys[0].Key, keys[1].Key)
	}
}
