package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/attach"
	"github.com/strata-build/strata/spec"
)

func (a *app) buildCmd() *cobra.Command {
	var f buildFlags
	var sf supplyFlags
	var ociDir, tarball string
	c := &cobra.Command{
		Use:   "build [SPEC...]",
		Short: "Compose images and write them to an OCI layout and/or a docker tarball",
		Long: `Build composes each spec (default: image.yaml, image.yml, image.cue or the
CUE package in the current directory, the first found) into
an image, or an OCI index when it has several platforms, and prints its digest.

The image is written to --oci DIR (an OCI image layout, under each of the
spec's tags, or "latest") and/or --tarball FILE (docker-save format, for docker load).
With neither flag it goes to the local store $XDG_DATA_HOME/strata/oci
(default ~/.local/share/strata/oci). Outputs are written only after every
spec has built; a failure leaves them untouched.

SOURCE_DATE_EPOCH (an integer from 0 to 8589934591) sets every file mtime,
the config's created time and the history times; unset or empty means 0.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBuild(cmd.Context(), args, &f, &sf, ociDir, tarball)
		},
	}
	f.register(c)
	f.local = true
	sf.register(c, false)
	c.Flags().StringVar(&ociDir, "oci", "", "write an OCI image layout to `DIR`")
	c.Flags().StringVar(&tarball, "tarball", "", "write a docker-save tarball to `FILE` (one spec only)")
	return c
}

func (a *app) runBuild(ctx context.Context, args []string, f *buildFlags, sf *supplyFlags, ociDir, tarball string) error {
	a.jsonErrors = f.json
	ctx, cancel := f.reg.withTimeout(ctx)
	defer cancel()
	if tarball != "" && len(args) > 1 {
		return usagef("--tarball writes one image; got %d specs", len(args))
	}
	var check func(string, *spec.Spec) error
	if tarball != "" && f.platform == "" {
		check = func(path string, s *spec.Spec) error {
			if len(s.Platforms) > 1 {
				return usagef("%s: --tarball writes one platform, but the spec builds %d (%s); pick one with --platform, or write an OCI layout with --oci",
					path, len(s.Platforms), strings.Join(s.Platforms, ", "))
			}
			return nil
		}
	}
	if err := sf.check(); err != nil {
		return err
	}
	job, err := a.buildJob(ctx, args, f, check)
	if err != nil {
		return err
	}
	if tarball != "" {
		// A multi-platform base without platforms: is caught by Build as
		// soon as the base is resolved.
		job.opts = append(job.opts, compose.WithSinglePlatform())
	}
	if ociDir != "" || tarball == "" { // a layout gets the documents
		job.opts = append(job.opts, sf.observe(job.cacheDir)...)
	}
	results, err := compose.BuildAll(ctx, job.specs, job.paths, job.cacheDir, job.opts...)
	if err != nil {
		return redacted(err, &f.reg)
	}
	if err := job.checkLocks(ctx, results); err != nil {
		return err
	}
	for i, res := range results {
		printWarnings(a, job.paths[i], res)
	}
	if ociDir == "" && tarball == "" {
		a.use(a.defaultStore())
	} else if ociDir != "" {
		a.useLayout(ociDir)
	}
	// Every spec built: now name and write the outputs.
	t := compose.Targets{LayoutDir: ociDir, TarballPath: tarball, Jobs: f.jobs}
	if ociDir == "" && tarball == "" {
		t.LayoutDir, t.Shared = a.defaultStore(), true
	}
	outs, err := compose.OutputsFor(results, job.paths, t)
	if err != nil {
		return err
	}
	if t.LayoutDir != "" && sf.wanted() {
		for i, at := range sf.attachAll(ctx, a, job, results, nil, f.jobs) {
			if at.err != nil {
				return redacted(fmt.Errorf("%s: %w", job.paths[i], at.err), &f.reg)
			}
			outs[i].Referrers = attach.Referrers(at.docs)
		}
	}
	// Whether each image changed is read before anything is written.
	unchanged := make([]bool, len(results))
	for i, res := range results {
		if unchanged[i], err = compose.Unchanged(res, outs[i]); err != nil {
			return redacted(fmt.Errorf("%s: %w", job.paths[i], err), &f.reg)
		}
	}
	for i, res := range results {
		if err := compose.WriteOutputs(ctx, res, outs[i]); err != nil {
			return redacted(fmt.Errorf("%s: %w", job.paths[i], err), &f.reg)
		}
	}
	return a.printBuilt(job.paths, results, outs, unchanged, f.json)
}
