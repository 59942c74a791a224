package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/diff"
)

func (a *app) verifyCmd() *cobra.Command {
	var f buildFlags
	c := &cobra.Command{
		Use:   "verify REF [SPEC]",
		Short: "Rebuild a spec and check that REF is exactly that image",
		Long: `Verify composes SPEC (default: image.yaml, image.yml, image.cue or the CUE
package in the current directory) as build would, writing nothing, and
compares the result with the image REF names: a registry reference,
oci:DIR[:tag|@digest] or docker-archive:FILE. This is what CI runs to prove a
release came from a commit.

When the digests are equal it prints "verified REF DIGEST" and exits 0.
Otherwise it prints how they differ, as strata diff REF SPEC would (which
platform, the first differing layer, each path with its old and new sha256),
and exits 1.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				return a.runVerify(cmd.Context(), args[0], args[1], &f)
			}
			specPath, err := defaultSpec()
			if err != nil {
				return err
			}
			return a.runVerify(cmd.Context(), args[0], specPath, &f)
		},
	}
	f.register(c)
	return c
}

func (a *app) runVerify(ctx context.Context, ref, specPath string, f *buildFlags) error {
	ctx, cancel := f.reg.withTimeout(ctx)
	defer cancel()
	if !isSpecPath(specPath) {
		return usagef("%s is not a spec file (.yaml, .yml, .cue or a CUE package directory)", specPath)
	}
	built, err := a.openImage(ctx, specPath, f)
	if err != nil {
		return err
	}
	published, err := a.openImage(ctx, ref, f)
	if err != nil {
		return err
	}
	rep, err := diff.Images(ctx, published, built)
	if err != nil {
		return redacted(fmt.Errorf("comparing %s with %s: %w", ref, specPath, err), &f.reg)
	}
	if rep.Same {
		fmt.Fprintf(a.stdout, "verified %s %s\n", ref, rep.A)
		return nil
	}
	if f.json {
		if err := writeJSON(a, rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(a.stdout); err != nil {
		return err
	}
	return redacted(fmt.Errorf("%s (%s) is not what %s builds (%s): %s", ref, rep.A, specPath, rep.B, rep.Summary()), &f.reg)
}
