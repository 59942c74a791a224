package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
)

func (a *app) planCmd() *cobra.Command {
	var f buildFlags
	var changed bool
	c := &cobra.Command{
		Use:   "plan [SPEC...]",
		Short: "Show what build would produce, without writing anything",
		Long: `Plan composes each spec (default as for build) like build but writes nothing:
no layer is stored and no output is written. For every platform it lists each
layer's entries (type, mode, owner, size, target, source), whiteouts included,
the layers that are empty and not emitted, the config changes against the base,
and the digests build will produce.

With --changed, plan composes nothing: it hashes each spec's inputs and
lists the specs whose image the registry cache of the spec's repository does
not name (see strata push), one per line; with --json, one object
{"changed": [...], "unchanged": [...]}.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if changed {
				return a.runPlanChanged(cmd.Context(), args, &f)
			}
			return a.runPlan(cmd.Context(), args, &f)
		},
	}
	f.register(c)
	f.local, f.plan = true, true
	c.Flags().BoolVar(&changed, "changed", false, "list only the specs whose image the registry does not have yet (by input key; nothing is compressed)")
	return c
}

func (a *app) runPlan(ctx context.Context, args []string, f *buildFlags) error {
	a.jsonErrors = f.json
	ctx, cancel := f.reg.withTimeout(ctx)
	defer cancel()
	job, err := a.buildJob(ctx, args, f, nil)
	if err != nil {
		return err
	}
	results, err := compose.PlanAll(ctx, job.specs, job.paths, job.cacheDir, job.opts...)
	if err != nil {
		return redacted(err, &f.reg)
	}
	if err := job.checkLocks(ctx, results); err != nil {
		return err
	}
	for i, res := range results {
		if f.json {
			r := report(job.paths[i], res, true)
			r.Outputs = nil
			if err := writeJSON(a, r); err != nil {
				return err
			}
			continue
		}
		if err := printPlan(a.stdout, job.paths[i], res); err != nil {
			return err
		}
	}
	return nil
}

// printPlan writes the human plan of one spec.
func printPlan(w io.Writer, path string, res *compose.Result) error {
	base := res.Spec.Base
	if res.BaseName != "" {
		base = res.BaseName
	}
	fmt.Fprintf(w, "%s: %s\n  base %s\n", path, res.Digest, base)
	for _, p := range res.Platforms {
		fmt.Fprintf(w, "  platform %s: %s\n", p.Platform, p.Digest)
		if p.BaseDigest.Hex != "" {
			fmt.Fprintf(w, "    base image %s\n", p.BaseDigest)
		}
		for _, l := range p.Layers {
			fmt.Fprintf(w, "    layer %s: %s (%d bytes, diffID %s)\n", l.Name, l.Digest, l.Size, l.DiffID)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "      TYPE\tMODE\tOWNER\tSIZE\tTARGET\tSOURCE")
			for _, e := range l.Entries {
				size := ""
				if e.Type == "file" {
					size = strconv.FormatInt(e.Size, 10)
				}
				target := e.Target
				if e.Link != "" {
					target += " -> " + e.Link
				}
				fmt.Fprintf(tw, "      %s\t%s\t%s\t%s\t%s\t%s\n", e.Type, dash(e.Mode), dash(e.Owner), dash(size), target, dash(e.Source))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		for _, s := range p.Skipped {
			fmt.Fprintf(w, "    layer %s: empty, not emitted\n", s)
		}
		if len(p.Changes) > 0 {
			fmt.Fprintln(w, "    config changes:")
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "      FIELD\tBASE\tNEW")
			for _, c := range p.Changes {
				fmt.Fprintf(tw, "      %s\t%s\t%s\n", c.Field, dash(c.Base), dash(c.New))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
