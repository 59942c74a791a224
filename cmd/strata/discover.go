package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/strata-build/strata/spec"
	"github.com/strata-build/strata/spec/discover"
)

// expandPatterns replaces each argument that ends in /... (or is ...) by
// the specs discovered below its directory, in discovery order; other
// arguments stay as they are. A path named twice is kept once, where it
// first appears. A pattern that finds no spec is a usage error.
func expandPatterns(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if k := filepath.Clean(p); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	for _, a := range args {
		if a != "..." && !strings.HasSuffix(a, "/...") {
			add(a)
			continue
		}
		root := strings.TrimSuffix(strings.TrimSuffix(a, "..."), "/")
		if root == "" {
			root = "."
		}
		found, err := discover.Specs(root)
		if err != nil {
			return nil, usagef("%s: %v", a, err)
		}
		if len(found) == 0 {
			return nil, usagef("%s: no spec (image.yaml, image.yml, image.cue or a CUE package) below %s", a, root)
		}
		for _, p := range found {
			add(p)
		}
	}
	return out, nil
}

// shard keeps the share of j's specs that --shard I/N names (see
// discover.Shard: balanced by input bytes, the same on every machine).
func (j *buildJob) shard(v string) error {
	i, n, err := discover.ParseShard(v)
	if err != nil {
		return usagef("--shard: %v", err)
	}
	weights := make([]int64, len(j.specs))
	for k, s := range j.specs {
		weights[k] = discover.Weight(spec.WithDefaults(s, ""))
	}
	keys := make([]string, len(j.paths))
	for k, p := range j.paths {
		keys[k] = filepath.ToSlash(filepath.Clean(p))
	}
	mine, err := discover.Shard(weights, keys, i, n)
	if err != nil {
		return fmt.Errorf("--shard: %w", err)
	}
	paths, specs := make([]string, len(mine)), make([]*spec.Spec, len(mine))
	for k, m := range mine {
		paths[k], specs[k] = j.paths[m], j.specs[m]
	}
	j.paths, j.specs = paths, specs
	return nil
}
