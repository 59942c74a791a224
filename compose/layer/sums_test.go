//go:build linux

package layer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// sumsFiles returns the paths in the store's one sums record ("" if none).
func sumsFiles(t *testing.T, env *testEnv) []string {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(env.store.Dir(), "layers", recSums+"-*.json"))
	if len(ms) > 1 {
		t.Fatalf("%d sums records", len(ms))
	}
	if len(ms) == 0 {
		return nil
	}
	b, err := os.ReadFile(ms[0])
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range strings.Split(string(b), `"path":"`)[1:] {
		out = append(out, f[:strings.IndexByte(f, '"')])
	}
	slices.Sort(out)
	return out
}

// TestSumsRecord: after a stat miss, inputs whose stat is unchanged take
// their recorded hash (not read); racy inputs are never recorded; a
// corrupt record or an input edited behind an unchanged stat (which the
// write pass catches) never yields a wrong layer.
func TestSumsRecord(t *testing.T) {
	a := func(env *statEnv) string { return filepath.Join(env.dir, "src/a.txt") }
	touch := func(t *testing.T, p string) {
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("racy inputs are not recorded", func(t *testing.T) {
		env := &statEnv{testEnv: newCacheEnv(t)} // files just written: racy
		env.run(t)
		if got := sumsFiles(t, env.testEnv); got != nil {
			t.Errorf("sums recorded for racy inputs: %v", got)
		}
		env.late = true
		touch(t, a(env))
		_, opened := env.run(t) // nothing recorded: every input is read
		if want := []string{"a.tar", "src/a.txt", "src/b.txt"}; !slices.Equal(opened, want) {
			t.Errorf("opened %v, want %v", opened, want)
		}
		if got, want := sumsFiles(t, env.testEnv), []string{"a.tar", "src/a.txt", "src/b.txt"}; !slices.Equal(got, want) {
			t.Errorf("sums recorded for %v, want %v", got, want)
		}
	})

	t.Run("corrupt record", func(t *testing.T) {
		env := &statEnv{testEnv: newCacheEnv(t), late: true}
		first, _ := env.run(t)
		ms, _ := filepath.Glob(filepath.Join(env.store.Dir(), "layers", recSums+"-*.json"))
		if len(ms) != 1 {
			t.Fatalf("sums records: %v", ms)
		}
		os.WriteFile(ms[0], []byte(`{"key":`), 0o644)
		touch(t, a(env))
		second, opened := env.run(t)
		if want := []string{"a.tar", "src/a.txt", "src/b.txt"}; !slices.Equal(opened, want) {
			t.Errorf("opened %v, want %v", opened, want)
		}
		d1, _, _ := digests(t, first)
		d2, _, _ := digests(t, second)
		if d1 != d2 {
			t.Errorf("digest %s, want %s", d2, d1)
		}
	})

	// The record outlives a change of the created time (a
	// SOURCE_DATE_EPOCH taken from each commit), and a dry run's key pass
	// (a push's registry-cache key) keeps what it hashed.
	t.Run("other created time, and the key pass", func(t *testing.T) {
		env := &statEnv{testEnv: newCacheEnv(t), late: true}
		env.run(t)
		touch(t, a(env))
		opened := map[string]int{}
		var mu sync.Mutex
		req := env.request(cacheLayer)
		req.Created = req.Created.Add(time.Hour)
		req.now = func() time.Time { return time.Now().Add(time.Hour) }
		req.DryRun, req.KeyOnly = true, true
		req.opened = func(src string) { mu.Lock(); opened[src]++; mu.Unlock() }
		if _, err := Build(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"src/a.txt": 1}; fmt.Sprint(opened) != fmt.Sprint(want) {
			t.Errorf("key pass with another created time opened %v, want %v", opened, want)
		}
		// The key pass recorded a's new stat: the build reads a only to
		// write it (and b, which the write reads too).
		clear(opened)
		req.DryRun, req.KeyOnly = false, false
		if _, err := Build(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"src/a.txt": 1, "src/b.txt": 1}; fmt.Sprint(opened) != fmt.Sprint(want) {
			t.Errorf("build after the key pass opened %v, want %v (no read ahead of the write)", opened, want)
		}
	})

	// A push on a fresh runner asks the registry for each layer by key
	// (Request.Known). With every input's hash known from the key pass, a
	// changed layer the registry does not hold is not tarred ahead of its
	// write: each input is read once.
	t.Run("a layer the registry lacks is not read twice", func(t *testing.T) {
		env := &statEnv{testEnv: newCacheEnv(t), late: true}
		env.run(t)
		touch(t, a(env))
		opened := map[string]int{}
		var mu sync.Mutex
		req := env.request(cacheLayer)
		req.Created = req.Created.Add(time.Hour)
		req.now = func() time.Time { return time.Now().Add(time.Hour) }
		req.DryRun, req.KeyOnly = true, true
		if _, err := Build(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		req.DryRun, req.KeyOnly = false, false
		req.opened = func(src string) { mu.Lock(); opened[src]++; mu.Unlock() }
		var asked []string
		req.Known = func(_ context.Context, key string) v1.Layer { asked = append(asked, key); return nil }
		b, err := Build(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"src/a.txt": 1, "src/b.txt": 1}; fmt.Sprint(opened) != fmt.Sprint(want) {
			t.Errorf("build opened %v, want %v (no tar pass ahead of the write)", opened, want)
		}
		if len(asked) != 1 || asked[0] != b.Key {
			t.Errorf("Known asked for %v, want once for the layer's key %s", asked, b.Key)
		}
	})

	// Within one command (a shared Sums), what the key pass hashed is
	// taken by the build even for inputs written moments ago, which the
	// sums record leaves out: a fresh runner's push of a binary just built
	// reads it once for the key and once to write it, not three times.
	t.Run("racy inputs, shared by one command", func(t *testing.T) {
		for _, shared := range []bool{false, true} {
			env := &statEnv{testEnv: newCacheEnv(t)} // files just written: racy
			var sums *Sums
			if shared {
				sums = &Sums{}
			}
			req := env.request(cacheLayer)
			req.Sums = sums
			req.DryRun, req.KeyOnly = true, true
			if _, err := Build(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			opened := map[string]int{}
			var mu sync.Mutex
			req.DryRun, req.KeyOnly = false, false
			req.opened = func(src string) { mu.Lock(); opened[src]++; mu.Unlock() }
			req.Known = func(context.Context, string) v1.Layer { return nil }
			if _, err := Build(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"src/a.txt": 2, "src/b.txt": 2} // tarred for the key, then written
			if shared {
				want = map[string]int{"src/a.txt": 1, "src/b.txt": 1}
			}
			if fmt.Sprint(opened) != fmt.Sprint(want) {
				t.Errorf("shared=%v: the build opened %v, want %v", shared, opened, want)
			}
		}
	})

	t.Run("wrong recorded hash is caught by the write", func(t *testing.T) {
		env := &statEnv{testEnv: newCacheEnv(t), late: true}
		env.run(t)
		ms, _ := filepath.Glob(filepath.Join(env.store.Dir(), "layers", recSums+"-*.json"))
		rec, _ := os.ReadFile(ms[0])
		// b's recorded hash replaced by a's: b keeps its stat, so the
		// record is trusted for it, and the content key is that of a
		// tree nobody built; the write pass reads b and refuses.
		bad := strings.Replace(string(rec), sha256hex("bbbb"), sha256hex("aaaa"), 1)
		if bad == string(rec) {
			t.Fatalf("b's hash not in the record: %s", rec)
		}
		os.WriteFile(ms[0], []byte(bad), 0o644)
		if err := os.WriteFile(a(env), []byte("AAAA, longer"), 0o644); err != nil {
			t.Fatal(err)
		}
		req := env.request(cacheLayer)
		req.now = func() time.Time { return time.Now().Add(time.Hour) }
		if _, err := Build(t.Context(), req); err == nil || !strings.Contains(err.Error(), "src/b.txt") {
			t.Errorf("build with a wrong recorded hash: %v; want an error naming src/b.txt", err)
		}
		// The record is dropped: the next build hashes again and succeeds.
		if got := sumsFiles(t, env.testEnv); got != nil {
			t.Errorf("the sums record survived the mismatch: %v", got)
		}
		if _, err := Build(t.Context(), req); err != nil {
			t.Errorf("build after the mismatch: %v", err)
		}
	})
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
