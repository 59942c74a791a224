package layer

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/strata-build/strata/spec"
)

// splitTree writes n files of 100 KiB to 1 MiB of random bytes (seeded)
// under dir/site, in a few directories, and returns their paths.
func splitTree(t *testing.T, dir string, n int) []string {
	t.Helper()
	src := rand.NewChaCha8([32]byte{1, 2})
	r := rand.New(src)
	var paths []string
	for i := range n {
		p := filepath.Join(dir, "site", fmt.Sprintf("d%d", i%4), fmt.Sprintf("f%03d.bin", i))
		b := make([]byte, 100<<10+r.IntN(924<<10))
		src.Read(b)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

var splitLayer = spec.Layer{Name: "site", Split: "auto", Files: []spec.File{{Src: "site/**", Dest: "/srv/"}}}

// partDigests lists the digests of a split layer's parts, in order.
func partDigests(t *testing.T, bl *Built) []string {
	t.Helper()
	if bl.Layer != nil {
		t.Fatal("a split layer has Layer set")
	}
	var out []string
	for _, p := range bl.Parts {
		d, err := p.Layer.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

// changed counts the digests of a not in b and of b not in a.
func changed(a, b []string) (gone, added int) {
	for _, d := range a {
		if !slices.Contains(b, d) {
			gone++
		}
	}
	for _, d := range b {
		if !slices.Contains(a, d) {
			added++
		}
	}
	return gone, added
}

// TestSplitStable: changing one file changes exactly one part; adding or
// removing a file changes at most the part it is in (split in two, or two
// merged); every other part keeps its digest. The parts hold exactly the
// unsplit layer's entries, in its order.
func TestSplitStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctx")
	paths := splitTree(t, dir, 60) // ~33 MiB: budget 4 MiB, about 8 parts
	env := openEnv(t, dir)
	first := partDigests(t, env.build(t, splitLayer))
	if len(first) < 4 {
		t.Fatalf("%d parts for ~33 MiB, want several", len(first))
	}
	again := partDigests(t, openEnv(t, dir).build(t, splitLayer)) // a fresh store
	if !slices.Equal(first, again) {
		t.Fatalf("two builds split differently:\n%v\n%v", first, again)
	}

	// The parts concatenated are the unsplit layer, entry for entry.
	unsplit := splitLayer
	unsplit.Split = ""
	whole := summary(readLayer(t, env.build(t, unsplit)))
	var joined []string
	for _, p := range env.build(t, splitLayer).Parts {
		joined = append(joined, summary(readLayer(t, &Built{Layer: p.Layer}))...)
	}
	diffLines(t, joined, whole)

	// Change one file, keeping its size (the shape key hits, so the
	// other parts come from the part cache).
	b, err := os.ReadFile(paths[17])
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if err := os.WriteFile(paths[17], b, 0o644); err != nil {
		t.Fatal(err)
	}
	edited := partDigests(t, env.build(t, splitLayer))
	if gone, added := changed(first, edited); gone != 1 || added != 1 || len(edited) != len(first) {
		t.Errorf("one file changed: %d parts gone, %d new (of %d), want 1 and 1", gone, added, len(first))
	}
	// The same with a fresh store (no part cache): the same digests.
	if fresh := partDigests(t, openEnv(t, dir).build(t, splitLayer)); !slices.Equal(fresh, edited) {
		t.Errorf("parts from the part cache differ from a fresh build:\n%v\n%v", edited, fresh)
	}

	// Add a file.
	if err := os.WriteFile(filepath.Join(dir, "site", "d2", "new.bin"), make([]byte, 300<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	blAdded := env.build(t, splitLayer)
	added := partDigests(t, blAdded)
	// The untouched parts came from the part cache: only the one or two
	// new parts were compressed.
	compressed := 0
	for _, p := range blAdded.Parts {
		if !p.Cached {
			compressed++
		}
	}
	if compressed < 1 || compressed > 2 {
		t.Errorf("after adding a file %d of %d parts were compressed, want 1 or 2", compressed, len(blAdded.Parts))
	}
	if gone, add := changed(edited, added); gone != 1 || add < 1 || add > 2 {
		t.Errorf("one file added: %d parts gone, %d new, want 1 gone and 1 or 2 new", gone, add)
	}

	// Remove two files far apart.
	for _, p := range []string{paths[3], paths[44]} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	removed := partDigests(t, env.build(t, splitLayer))
	if gone, add := changed(added, removed); gone < 1 || gone > 4 || add > gone || len(removed) < len(added)-2 {
		t.Errorf("two files removed: %d parts gone, %d new (of %d), want at most 2 per file", gone, add, len(added))
	}
	if gone, _ := changed(added, removed); gone >= len(added)-1 {
		t.Errorf("removing two files changed %d of %d parts", gone, len(added))
	}
}

// TestSplitRule pins the partition: the same names and sizes are cut the
// same way on every machine and with every Go version.
func TestSplitRule(t *testing.T) {
	var list []*layerEntry
	for i := range 40 {
		list = append(list, &layerEntry{target: fmt.Sprintf("srv/www/page%02d.html", i), kind: kindFile, size: int64(i+1) << 16})
	}
	var got []string
	for _, p := range splitEntries(list) {
		got = append(got, fmt.Sprintf("%s..%s", p[0].target, p[len(p)-1].target))
	}
	// Sizes 64 KiB, 128 KiB, …, 2.5 MiB (26 MiB): budget 4 MiB.
	want := []string{
		"srv/www/page00.html..srv/www/page10.html",
		"srv/www/page11.html..srv/www/page13.html",
		"srv/www/page14.html..srv/www/page22.html",
		"srv/www/page23.html..srv/www/page25.html",
		"srv/www/page26.html..srv/www/page28.html",
		"srv/www/page29.html..srv/www/page29.html",
		"srv/www/page30.html..srv/www/page30.html",
		"srv/www/page31.html..srv/www/page33.html",
		"srv/www/page34.html..srv/www/page35.html",
		"srv/www/page36.html..srv/www/page36.html",
		"srv/www/page37.html..srv/www/page37.html",
		"srv/www/page38.html..srv/www/page39.html",
	}
	diffLines(t, got, want)
	if b := splitBudget(0); b != 4<<20 {
		t.Errorf("budget of an empty layer = %d, want 4 MiB", b)
	}
	if b := splitBudget(1 << 30); b != 32<<20 {
		t.Errorf("budget of 1 GiB = %d, want 32 MiB", b)
	}
	if b := splitBudget(1<<30 + 32); b != 64<<20 {
		t.Errorf("budget of 1 GiB + 32 = %d, want 64 MiB", b)
	}
}

// TestSplitWhiteoutsAndLinks: deletes and clears form the first part,
// before everything the layer adds, and a hard link lands in its file's
// part.
func TestSplitWhiteoutsAndLinks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctx")
	splitTree(t, dir, 30)
	if err := os.Link(filepath.Join(dir, "site", "d0", "f000.bin"), filepath.Join(dir, "site", "d3", "zz-link.bin")); err != nil {
		t.Fatal(err)
	}
	env := openEnv(t, dir)
	l := splitLayer
	l.Delete = []string{"/etc/motd"}
	l.Clear = []string{"/srv/d1"}
	bl := env.build(t, l)
	if len(bl.Parts) < 3 {
		t.Fatalf("%d parts, want several", len(bl.Parts))
	}
	var kinds []string
	for _, e := range bl.Parts[0].Entries {
		kinds = append(kinds, e.Type+" "+e.Target)
	}
	diffLines(t, kinds, []string{"whiteout /etc/motd", "opaque /srv/d1"})
	for i, p := range bl.Parts[1:] {
		for _, e := range p.Entries {
			if e.Type == "whiteout" || e.Type == "opaque" {
				t.Errorf("part %d holds %s %s", i+1, e.Type, e.Target)
			}
		}
	}
	found := false
	for _, p := range bl.Parts {
		names := map[string]bool{}
		for _, e := range readLayer(t, &Built{Layer: p.Layer}) {
			names[e.hdr.Name] = true
			if e.hdr.Typeflag == tar.TypeLink {
				found = true
				if !names[e.hdr.Linkname] {
					t.Errorf("hard link %s -> %s: its file is not earlier in the same part", e.hdr.Name, e.hdr.Linkname)
				}
			}
		}
	}
	if !found {
		t.Error("no hard link in any part")
	}
}
