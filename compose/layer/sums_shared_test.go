//go:build linux

package layer

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A hash another build of the command took within the racy window is good
// for a key, never for a cache hit that skips the read, and is never
// recorded: simulated, the key pass read "aaaa", then the file became
// "AAAA" under the same stat (one ctime tick). The build, starting more
// than the racy window later (a long key pass), finds a content record for
// "aaaa" but reads the file again, and a later command builds "AAAA".
func TestSharedRacyHashIsNotTrustedForAHit(t *testing.T) {
	env := &statEnv{testEnv: newCacheEnv(t), late: true}
	env.run(t) // a content record for a = "aaaa"
	a := filepath.Join(env.dir, "src/a.txt")
	sums := &Sums{}
	req := env.request(cacheLayer)
	req.Sums = sums
	req.DryRun, req.KeyOnly = true, true
	if err := os.WriteFile(a, []byte("AAAA"), 0o644); err != nil { // just written: racy for the key pass
		t.Fatal(err)
	}
	if _, err := Build(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	for k, e := range sums.m {
		if e.Sum == sha256hex("AAAA") {
			if !e.racy {
				t.Fatal("the key pass's hash of a file written just before is not marked racy")
			}
			e.Sum = sha256hex("aaaa")
			sums.m[k] = e
		}
	}
	req.DryRun, req.KeyOnly = false, false
	req.now = func() time.Time { return time.Now().Add(3 * time.Second) }
	got, err := Build(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	clean := &statEnv{testEnv: newCacheEnv(t), late: true}
	if err := os.WriteFile(filepath.Join(clean.dir, "src/a.txt"), []byte("AAAA"), 0o644); err != nil {
		t.Fatal(err)
	}
	want, _ := clean.run(t)
	dw, _, _ := digests(t, want)
	if d, _, _ := digests(t, got); d != dw {
		t.Errorf("the build in the command gave %s, want %s (the files' layer)", d, dw)
	}
	// A later command, no Sums: nothing stale was recorded.
	req2 := env.request(cacheLayer)
	req2.now = func() time.Time { return time.Now().Add(time.Hour) }
	later, err := Build(t.Context(), req2)
	if err != nil {
		t.Fatal(err)
	}
	if d, _, _ := digests(t, later); d != dw {
		t.Errorf("a later command built %s, want %s: a stale hash was recorded", d, dw)
	}
}
