package discover

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/strata-build/strata/spec"
)

func TestShardCoversEachOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 7, 300} {
		var weights []int64
		var keys []string
		for k := range 200 {
			weights = append(weights, int64((k*7919)%20000)) // mixed sizes, some repeated
			keys = append(keys, fmt.Sprintf("svc/%03d/image.yaml", k))
		}
		seen := make([]int, len(keys))
		loads := make([]int64, n)
		for i := 1; i <= n; i++ {
			mine, err := Shard(weights, keys, i, n)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Shard(weights, keys, i, n)
			if !slices.Equal(mine, again) {
				t.Fatalf("shard %d/%d not deterministic", i, n)
			}
			for _, k := range mine {
				seen[k]++
				loads[i-1] += weights[k]
			}
		}
		for k, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d: %s taken %d times", n, keys[k], c)
			}
		}
		if n <= 7 {
			lo, hi := slices.Min(loads), slices.Max(loads)
			if hi-lo > 20000 { // greedy LPT: shards differ by at most one item
				t.Errorf("n=%d: loads %v unbalanced", n, loads)
			}
		}
	}
}

func TestShardByWeight(t *testing.T) {
	// One heavy spec and three light ones: the heavy one is alone.
	weights := []int64{10, 1000, 10, 10}
	keys := []string{"a", "b", "c", "d"}
	want := [][]int{{1}, {0, 2, 3}}
	for i := 1; i <= 2; i++ {
		got, err := Shard(weights, keys, i, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want[i-1]) {
			t.Errorf("shard %d/2 = %v, want %v", i, got, want[i-1])
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i, n int
		err  string
	}{
		{"1/4", 1, 4, ""},
		{"4/4", 4, 4, ""},
		{"0/4", 0, 0, `shard "0/4": want I/N with 1 ≤ I ≤ N, e.g. 2/4`},
		{"5/4", 0, 0, `shard "5/4": want I/N with 1 ≤ I ≤ N, e.g. 2/4`},
		{"1/0", 0, 0, `shard "1/0": want I/N with 1 ≤ I ≤ N, e.g. 2/4`},
		{"01/4", 0, 0, `shard "01/4": want I/N with 1 ≤ I ≤ N, e.g. 2/4`},
		{"1-4", 0, 0, `shard "1-4": want I/N with 1 ≤ I ≤ N, e.g. 2/4`},
		{"a/b", 0, 0, `shard "a/b": want I/N with 1 ≤ I ≤ N, e.g. 2/4`},
	} {
		i, n, err := ParseShard(tc.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err || i != tc.i || n != tc.n {
			t.Errorf("ParseShard(%q) = %d, %d, %q; want %d, %d, %q", tc.in, i, n, got, tc.i, tc.n, tc.err)
		}
	}
}

func TestWeight(t *testing.T) {
	root := tree(t, map[string]string{
		"app/a.txt": "12345", "app/sub/b.bin": "1234567890", "bin/linux_amd64/x": "123", "other/big": "0123456789012345",
	})
	s := &spec.Spec{Context: root, Layers: []spec.Layer{
		{Files: []spec.File{{Src: "app/**"}, {Src: "app/sub/*.bin"}}},
		{Files: []spec.File{{Src: "bin/${TARGETOS}_${TARGETARCH}/x"}, {Src: "missing/*"}}},
	}}
	if got := Weight(s); got != 5+10+3 {
		t.Errorf("Weight = %d, want 18", got)
	}
	s.Layers = []spec.Layer{{Files: []spec.File{{Src: "**"}}}}
	if got := Weight(s); got != 5+10+3+16 {
		t.Errorf("Weight(**) = %d, want 34", got)
	}
	s.Layers = []spec.Layer{{Files: []spec.File{{Src: filepath.Join("app", "a.txt")}}}}
	if got := Weight(s); got != 5 {
		t.Errorf("Weight(app/a.txt) = %d, want 5", got)
	}
}
