package discover

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/strata-build/strata/spec"
)

// Weight estimates the input bytes of s (with defaults applied, so its
// Context is absolute): the sizes of the regular files below the static
// prefix of every src glob (the part before the first wildcard or ${...}),
// each directory counted once. It reads no file, only directory entries;
// a prefix that does not exist weighs nothing. Sizes depend only on the
// checkout, so every machine computes the same weight.
func Weight(s *spec.Spec) int64 {
	var prefixes []string
	for _, l := range s.Layers {
		for _, f := range l.Files {
			prefixes = append(prefixes, staticPrefix(f.Src))
		}
	}
	sort.Strings(prefixes)
	var total int64
	var last string
	for i, p := range prefixes {
		// A prefix below one already walked is counted there.
		if i > 0 && (p == last || last == "." || strings.HasPrefix(p, last+"/")) {
			continue
		}
		last = p
		_ = filepath.WalkDir(filepath.Join(s.Context, filepath.FromSlash(p)), func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
	}
	return total
}

// staticPrefix is the directory part of glob before its first wildcard or
// variable, "." when it starts with one.
func staticPrefix(glob string) string {
	cut := strings.IndexAny(glob, "*?[{$\\")
	if cut < 0 {
		return path.Clean(glob)
	}
	return path.Dir(glob[:cut] + "x")
}

// Shard returns the indexes (ascending) of the items that shard i of n
// (1 ≤ i ≤ n) takes, given each item's weight and key (a unique name, the
// spec path, that breaks ties). Items are taken heaviest first, each by the
// shard with the least weight so far (the lowest-numbered on a tie), so the
// assignment is deterministic and the n shards together cover every item
// exactly once.
func Shard(weights []int64, keys []string, i, n int) ([]int, error) {
	if n < 1 || i < 1 || i > n {
		return nil, fmt.Errorf("shard %d/%d: want 1 ≤ I ≤ N", i, n)
	}
	if len(weights) != len(keys) {
		return nil, fmt.Errorf("shard: %d weights for %d keys", len(weights), len(keys))
	}
	order := make([]int, len(keys))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool {
		wa, wb := weights[order[a]], weights[order[b]]
		if wa != wb {
			return wa > wb
		}
		return keys[order[a]] < keys[order[b]]
	})
	load := make([]int64, n)
	var mine []int
	for _, k := range order {
		best := 0
		for s := 1; s < n; s++ {
			if load[s] < load[best] {
				best = s
			}
		}
		// Every item weighs at least one, so empty items spread out too.
		load[best] += max(weights[k], 1)
		if best == i-1 {
			mine = append(mine, k)
		}
	}
	sort.Ints(mine)
	return mine, nil
}

// ParseShard parses "I/N" (1 ≤ I ≤ N).
func ParseShard(v string) (i, n int, err error) {
	a, b, ok := strings.Cut(v, "/")
	if ok {
		_, err1 := fmt.Sscanf(a, "%d", &i)
		_, err2 := fmt.Sscanf(b, "%d", &n)
		ok = err1 == nil && err2 == nil && fmt.Sprintf("%d/%d", i, n) == v
	}
	if !ok || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("shard %q: want I/N with 1 ≤ I ≤ N, e.g. 2/4", v)
	}
	return i, n, nil
}
