package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/spec"
)

func (a *app) copyCmd() *cobra.Command {
	var f registryFlags
	var jsonOut bool
	var jobs int
	c := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy an image between registries, OCI layouts and docker archives",
		Long: `Copy copies an image or index, keeping its digest.

SRC is a registry reference, oci:DIR[:tag|@digest] or docker-archive:FILE
(.tar or .tar.gz, as written by docker save). DST is a registry tag or
oci:DIR[:tag]. A registry destination is pushed like strata push does: blobs
first (blobs of a registry source on the same registry are mounted), the tag
last. It prints the digest.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if jobs < 1 {
				return usagef("--jobs must be at least 1, got %d", jobs)
			}
			cfg, err := a.transportConfig(&f)
			if err != nil {
				return err
			}
			src, err := registry.ParseLocation(args[0], cfg)
			if err != nil {
				return usagef("source: %v", err)
			}
			dst, err := registry.ParseLocation(args[1], cfg)
			if err != nil {
				return usagef("destination: %v", err)
			}
			if dst.Kind == "docker-archive" {
				return usagef("destination %s: copy writes to a registry or an oci: layout", args[1])
			}
			if l, err := spec.ParseLocation(args[1]); err == nil && dst.Kind == "oci" {
				a.useLayout(l.Dir)
			}
			ctx, cancel := f.withTimeout(cmd.Context())
			defer cancel()
			progress, done := a.pushProgress(f.stderr, jsonOut)
			start := time.Now()
			res, err := registry.Copy(ctx, src, dst, registry.CopyOptions{
				Push: registry.PushOptions{Transport: cfg, Jobs: jobs, Progress: progress},
			})
			done()
			if res != nil && res.Push != nil {
				a.printTagReport(res.Push)
			}
			if err != nil {
				return redacted(err, &f)
			}
			if jsonOut {
				return writeJSON(a, res)
			}
			if res.Push != nil {
				a.printPushSummary(res.Push, time.Since(start))
			}
			fmt.Fprintln(a.stdout, res.Digest)
			return nil
		},
	}
	f.register(c)
	c.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	c.Flags().IntVar(&jobs, "jobs", 4, "blobs uploaded at once")
	return c
}
