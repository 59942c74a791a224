package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/diff"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/compose/registry"
)

// quietExit ends a command with an exit code and no message: the command
// has already said everything on stdout (diff's "different" is exit 1).
type quietExit struct{ code int }

func (e quietExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func (a *app) diffCmd() *cobra.Command {
	var f buildFlags
	c := &cobra.Command{
		Use:   "diff A B",
		Short: "Explain how two images differ",
		Long: `Diff compares two images and says why their digests differ. A and B are each a
registry reference, oci:DIR[:tag|@digest], docker-archive:FILE, or a spec file
(.yaml, .yml, .cue or a CUE package directory), which is composed as build
would but not written anywhere.

It compares, platform by platform, the config field by field, the layers
(identical by digest or not) and, for layers that differ, every entry: added,
removed, content changed (sha256), mode, owner, link target, type and mtime;
whiteouts show as deletions. The first line is a one-line summary, then the
details; --json prints the report for tools. Layers are read streaming.

Exit status, as for diff(1): 0 the same image, 1 different, 2 bad usage.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDiff(cmd.Context(), args[0], args[1], &f)
		},
	}
	f.register(c)
	return c
}

func (a *app) runDiff(ctx context.Context, x, y string, f *buildFlags) error {
	ctx, cancel := f.reg.withTimeout(ctx)
	defer cancel()
	ax, err := a.openImage(ctx, x, f)
	if err != nil {
		return err
	}
	ay, err := a.openImage(ctx, y, f)
	if err != nil {
		return err
	}
	rep, err := diff.Images(ctx, ax, ay)
	if err != nil {
		return redacted(fmt.Errorf("comparing %s and %s: %w", x, y, err), &f.reg)
	}
	if f.json {
		err = writeJSON(a, rep)
	} else {
		err = rep.WriteText(a.stdout)
	}
	if err != nil {
		return err
	}
	if !rep.Same {
		return quietExit{exitFailure}
	}
	return nil
}

// isSpecPath reports whether arg names a spec on disk rather than an image:
// an existing .yaml, .yml or .cue file (".example" ignored), or a directory
// holding .cue files.
func isSpecPath(arg string) bool {
	fi, err := os.Stat(arg)
	if err != nil {
		return false
	}
	if fi.IsDir() {
		m, _ := filepath.Glob(filepath.Join(arg, "*.cue"))
		return len(m) > 0
	}
	switch filepath.Ext(strings.TrimSuffix(arg, ".example")) {
	case ".yaml", ".yml", ".cue":
		return true
	}
	return false
}

// openImage opens what arg names: a spec is composed (nothing is written
// but the layer cache), anything else is read as an image location.
func (a *app) openImage(ctx context.Context, arg string, f *buildFlags) (oci.Artifact, error) {
	if isSpecPath(arg) {
		job, err := a.buildJob(ctx, []string{arg}, f, nil)
		if err != nil {
			return oci.Artifact{}, err
		}
		res, err := compose.Build(ctx, job.specs[0], job.cacheDir, job.opts...)
		if err != nil {
			return oci.Artifact{}, redacted(fmt.Errorf("%s: %w", arg, err), &f.reg)
		}
		return res.Artifact, nil
	}
	cfg, err := a.transportConfig(&f.reg)
	if err != nil {
		return oci.Artifact{}, err
	}
	l, err := registry.ParseLocation(arg, cfg)
	if err != nil {
		return oci.Artifact{}, usagef("%s is neither a spec file nor an image location: %v", arg, err)
	}
	cacheDir := f.cacheDir
	if cacheDir == "" {
		if cacheDir, err = a.userDir("XDG_CACHE_HOME", ".cache"); err != nil {
			return oci.Artifact{}, usagef("no cache directory: %v; pass --cache-dir", err)
		}
	}
	art, err := registry.Read(ctx, l, cacheDir, cfg)
	if err != nil {
		return oci.Artifact{}, redacted(err, &f.reg)
	}
	return art, nil
}
