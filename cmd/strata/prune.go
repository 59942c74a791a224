package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/store"
)

func (a *app) pruneCmd() *cobra.Command {
	var d storeDirs
	var olderThan, maxSize string
	var jsonOut bool
	c := &cobra.Command{
		Use:   "prune --older-than DURATION | --max-size SIZE",
		Short: "Remove old images from the local store and old entries from the cache",
		Long: `Prune removes store images and cache entries written longer ago than
--older-than (e.g. 720h or 30d), then, oldest first, until the store and the
cache together hold at most --max-size (e.g. 10GiB, 500MB or a number of
bytes). A removed image leaves the store's index atomically, then the blobs no
other image uses go; a cache entry is one file, rebuilt or fetched again when
needed. While another strata process uses the store or the cache (a running
build, plan or push), prune removes nothing and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			var o store.PruneOptions
			var err error
			if olderThan == "" && maxSize == "" {
				return usagef("say what to remove: --older-than DURATION and/or --max-size SIZE")
			}
			if olderThan != "" {
				if o.OlderThan, err = parseAge(olderThan); err != nil {
					return err
				}
			}
			if maxSize != "" {
				n, err := parseSize(maxSize)
				if err != nil {
					return err
				}
				o.MaxSize = &n
			}
			if err := d.resolve(a); err != nil {
				return err
			}
			rep, err := store.Prune(d.store, d.cache, o)
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(a, rep)
			}
			for _, img := range rep.Images {
				fmt.Fprintf(a.stdout, "removed %s %s\n", img.Ref, img.Digest)
			}
			fmt.Fprintf(a.stdout, "removed %d images (%s) and %d cache entries (%s); %s left\n",
				len(rep.Images), humanBytes(rep.StoreBytes), rep.CacheEntries, humanBytes(rep.CacheBytes), humanBytes(rep.Left))
			return nil
		},
	}
	d.register(c)
	c.Flags().StringVar(&olderThan, "older-than", "", "remove what was written longer ago than `DURATION` (Go durations, plus d for days: 30d, 12h)")
	c.Flags().StringVar(&maxSize, "max-size", "", "then remove the oldest until store and cache hold at most `SIZE` (bytes, or with B, KB, MB, GB, KiB, MiB, GiB)")
	c.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON")
	return c
}

// parseAge parses a positive duration; "d" counts days.
func parseAge(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int64
		days, err = strconv.ParseInt(n, 10, 64)
		d = time.Duration(days) * 24 * time.Hour
	}
	if err != nil || d <= 0 {
		return 0, usagef("--older-than %q: want a positive duration such as 30d, 12h or 90m", s)
	}
	return d, nil
}

// parseSize parses a byte count with an optional unit.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := s, int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = v, u.n
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, usagef("--max-size %q: want a size such as 10GiB, 500MB or 1048576", s)
	}
	return n * mult, nil
}
