package layer

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/spec"
)

var cacheLayer = spec.Layer{Files: []spec.File{{Src: "src/**", Dest: "/app/"}, {Src: "a.tar", Dest: "/opt/", Extract: true}}}

func newCacheEnv(t *testing.T) *testEnv {
	env := newEnv(t, []tfile{
		{path: "src/a.txt", content: "aaaa"},
		{path: "src/b.txt", content: "bbbb"},
	})
	makeArchive(t, filepath.Join(env.dir, "a.tar"), false, goArchive)
	return env
}

func digests(t *testing.T, bl *Built) (string, string, int64) {
	t.Helper()
	d, err := bl.Layer.Digest()
	if err != nil {
		t.Fatal(err)
	}
	di, _ := bl.Layer.DiffID()
	sz, _ := bl.Layer.Size()
	return d.String(), di.String(), sz
}

// withoutTmp removes the store's temp directory, so any attempt to write a
// blob fails: a build that succeeds then was served from the cache.
func withoutTmp(t *testing.T, env *testEnv) func() {
	tmp := filepath.Join(env.store.Dir(), "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	return func() { os.Mkdir(tmp, 0o755) }
}

func TestLayerCacheHit(t *testing.T) {
	env := newCacheEnv(t)
	first := env.build(t, cacheLayer)
	d1, di1, s1 := digests(t, first)
	files := env.storeFiles(t)

	restore := withoutTmp(t, env)
	// mtimes changing (a fresh checkout) does not matter: the stat key
	// misses, the content key hits.
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(env.dir, "src/a.txt"), later, later)
	second := env.build(t, cacheLayer)
	restore()
	d2, di2, s2 := digests(t, second)
	if d1 != d2 || di1 != di2 || s1 != s2 {
		t.Fatalf("cache hit gave %s %s %d, want %s %s %d", d2, di2, s2, d1, di1, s1)
	}
	if !reflect.DeepEqual(first.Entries, second.Entries) {
		t.Errorf("cached entries differ:\n%v\n%v", first.Entries, second.Entries)
	}
	if got := env.storeFiles(t); !reflect.DeepEqual(got, files) {
		t.Errorf("store changed on a hit: %v, was %v", got, files)
	}
	rc, err := second.Layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, rc)
	rc.Close()
	if n != s1 {
		t.Errorf("cached blob has %d bytes, want %d", n, s1)
	}
}

func TestLayerCacheMiss(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, env *testEnv) spec.Layer
	}{
		{"content changed, same size and mtime", func(t *testing.T, env *testEnv) spec.Layer {
			p := filepath.Join(env.dir, "src/a.txt")
			fi, _ := os.Stat(p)
			os.WriteFile(p, []byte("AAAA"), 0o644)
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
			return cacheLayer
		}},
		{"archive changed", func(t *testing.T, env *testEnv) spec.Layer {
			makeArchive(t, filepath.Join(env.dir, "a.tar"), false, goArchive[:5])
			return cacheLayer
		}},
		{"new file", func(t *testing.T, env *testEnv) spec.Layer {
			os.WriteFile(filepath.Join(env.dir, "src/c.txt"), nil, 0o644)
			return cacheLayer
		}},
		{"exec bit", func(t *testing.T, env *testEnv) spec.Layer {
			os.Chmod(filepath.Join(env.dir, "src/a.txt"), 0o755)
			return cacheLayer
		}},
		{"spec changed", func(t *testing.T, env *testEnv) spec.Layer {
			l := cacheLayer
			l.Files = append([]spec.File{}, l.Files...)
			l.Files[0].Owner = "1:1"
			return l
		}},
		{"blob deleted", func(t *testing.T, env *testEnv) spec.Layer {
			os.RemoveAll(filepath.Join(env.store.Dir(), "blobs"))
			os.MkdirAll(filepath.Join(env.store.Dir(), "blobs", "sha256"), 0o755)
			return cacheLayer
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newCacheEnv(t)
			d1, _, _ := digests(t, env.build(t, cacheLayer))
			l := tc.change(t, env)
			restore := withoutTmp(t, env)
			_, err := Build(context.Background(), env.request(l))
			if err == nil || !strings.Contains(err.Error(), "tmp") {
				t.Fatalf("build without a temp dir: %v, want a miss that tries to write", err)
			}
			restore()
			bl := env.build(t, l)
			d2, _, _ := digests(t, bl)
			if tc.name != "blob deleted" && d1 == d2 {
				t.Errorf("digest unchanged after the change")
			}
			if !env.store.Has(mustHash(t, d2)) {
				t.Errorf("blob %s not stored", d2)
			}
		})
	}
}

func TestLayerCacheContentRace(t *testing.T) {
	// Content replaced between the key pass and the write, with size and
	// mtime restored: the content hash tells (whether or not the clock
	// ticked, which the ctime check would see). A first build stores the
	// layer's shape and an edit keeping every size misses the content key,
	// so the second build has a key pass.
	env := newCacheEnv(t)
	env.build(t, cacheLayer)
	if err := os.WriteFile(filepath.Join(env.dir, "src/b.txt"), []byte("BBBB"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := env.storeFiles(t)
	req := env.request(cacheLayer)
	p := filepath.Join(env.dir, "src/a.txt")
	fi, _ := os.Stat(p)
	req.beforeRead = func(src string) {
		if src == "src/a.txt" {
			os.WriteFile(p, []byte("ZZZZ"), 0o644)
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
		}
	}
	_, err := Build(context.Background(), req)
	if !errors.Is(err, errChanged) {
		t.Fatalf("err = %v, want file changed while reading", err)
	}
	if !strings.Contains(err.Error(), "file src/a.txt: file changed while reading (content differs from the first read)") {
		t.Errorf("error %q does not say the content differs from the first read", err)
	}
	if got := env.storeFiles(t); !reflect.DeepEqual(got, before) {
		t.Errorf("store changed by a failed build: %v, was %v", got, before)
	}
}

func TestBuildLayerDryRun(t *testing.T) {
	env := newCacheEnv(t)
	req := env.request(cacheLayer)
	req.DryRun = true
	bl, err := Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.storeFiles(t); len(got) != 0 {
		t.Fatalf("dry run stored %v", got)
	}
	if _, err := bl.Layer.Compressed(); err == nil {
		t.Error("Compressed() of a dry-run layer succeeded")
	}
	d1, di1, s1 := digests(t, bl)
	d2, di2, s2 := digests(t, env.build(t, cacheLayer))
	if d1 != d2 || di1 != di2 || s1 != s2 {
		t.Errorf("dry run %s %s %d, build %s %s %d", d1, di1, s1, d2, di2, s2)
	}
	if len(bl.Entries) != 12 {
		t.Errorf("dry run reported %d entries, want 12", len(bl.Entries))
	}
}

func TestLayerCacheAcrossNamesAndIndexes(t *testing.T) {
	env := newCacheEnv(t)
	first := env.build(t, cacheLayer)
	d1, _, _ := digests(t, first)
	restore := withoutTmp(t, env)
	defer restore()
	l := cacheLayer
	l.Name = "renamed"
	req := env.request(l)
	req.Spec.Layers = []spec.Layer{{Name: "other"}, l}
	req.Index = 1
	bl, err := Build(context.Background(), req)
	if err != nil {
		t.Fatalf("renamed layer at another index was not reused: %v", err)
	}
	if d2, _, _ := digests(t, bl); d2 != d1 || bl.Name != "renamed" {
		t.Errorf("got %s %q, want %s \"renamed\"", d2, bl.Name, d1)
	}
}

// TestBuildLayerValidates runs ggcr's validate.Layer (digest, diffID and
// size recomputed from the stored blob) on a fresh and a reused layer.
func TestBuildLayerValidates(t *testing.T) {
	env := newCacheEnv(t)
	for i := range 2 {
		bl := env.build(t, cacheLayer)
		if err := validate.Layer(bl.Layer); err != nil {
			t.Errorf("build %d: %v", i, err)
		}
		if mt, _ := bl.Layer.MediaType(); mt != types.OCILayer {
			t.Errorf("media type %s", mt)
		}
	}
}

func TestBuildLayerCancel(t *testing.T) {
	env := newCacheEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	req := env.request(cacheLayer)
	req.beforeRead = func(string) { cancel() }
	_, err := Build(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	env.wantErr(t, err, "context canceled")
}
