package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/locked"
	"github.com/strata-build/strata/spec/lock"
)

func (a *app) lockCmd() *cobra.Command {
	var f buildFlags
	var update bool
	c := &cobra.Command{
		Use:   "lock [SPEC...]",
		Short: "Record each spec's resolved inputs and expected digests in a lock file",
		Long: `Lock composes each spec (default: image.yaml) as plan does, writing no image,
and writes its lock file beside it: image.lock.json for image.yaml (for a CUE
package directory, image.lock.json inside it). The lock records the base
reference as written, the digest it resolved to and every platform's base
manifest digest, the sha256 of each archive source (extract: true), the
SOURCE_DATE_EPOCH used, and the result: each platform's manifest digest and
layers, and the image or index digest. Keys are in a fixed order, one fact
per line.

An existing lock keeps its base digest (the tag is not resolved again);
--update resolves the base reference again and moves the lock to what it
names now. Commit the lock file; build, plan and push with --locked (or
STRATA_LOCKED=1) then refuse any other base or result.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runLock(cmd.Context(), args, &f, update)
		},
	}
	f.register(c)
	c.Flags().BoolVar(&update, "update", false, "resolve the base reference again instead of keeping the locked digest")
	return c
}

func (a *app) runLock(ctx context.Context, args []string, f *buildFlags, update bool) error {
	ctx, cancel := f.reg.withTimeout(ctx)
	defer cancel()
	if f.locked {
		return usagef("--locked checks against a lock file; strata lock writes one")
	}
	job, err := a.buildJob(ctx, args, f, nil)
	if err != nil {
		return err
	}
	if !update {
		// Keep what existing locks resolved: a tag that moved since does
		// not move the lock without --update.
		var old []*lock.Lock
		for _, p := range job.paths {
			l, err := lock.Read(lock.Path(p))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return usagef("%v; fix or delete it, or run: strata lock --update %s", err, p)
			}
			old = append(old, l)
		}
		pins, err := locked.BasePins(old)
		if err != nil {
			return usagef("%v", err)
		}
		job.opts = append(job.opts, compose.WithBasePins(pins))
	}
	results, err := compose.PlanAll(ctx, job.specs, job.paths, job.cacheDir, job.opts...)
	if err != nil {
		return redacted(err, &f.reg)
	}
	locks := make([]*lock.Lock, len(results))
	for i, res := range results {
		if locks[i], err = locked.New(res, job.epoch); err != nil {
			return fmt.Errorf("%s: %w", job.paths[i], err)
		}
	}
	for i, l := range locks {
		p := lock.Path(job.paths[i])
		if err := lock.Write(p, l); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "strata: %s: wrote %s\n", job.paths[i], p)
		fmt.Fprintln(a.stdout, l.Result.Digest)
	}
	return nil
}

// lockedFromEnv reads STRATA_LOCKED: 1 or true turns --locked on, 0, false
// or empty leaves it as the flag says.
func (a *app) lockedFromEnv() (bool, error) {
	switch v := a.env["STRATA_LOCKED"]; v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, usagef("STRATA_LOCKED=%q: want 1 or 0", v)
	}
}

// loadLocks reads and checks the lock file of every spec of a --locked job
// and pins the bases to the locked digests. A missing or stale lock is bad
// usage (exit 2), with the command that fixes it.
func (a *app) loadLocks(j *buildJob) error {
	for i, p := range j.paths {
		lp := lock.Path(p)
		l, err := lock.Read(lp)
		if errors.Is(err, os.ErrNotExist) {
			return usagef("%s: --locked, but there is no lock file %s; run: strata lock %s", p, lp, p)
		}
		if err != nil {
			return usagef("%s: %v; run: strata lock --update %s", p, err, p)
		}
		if err := locked.CheckInputs(j.specs[i], l, j.epoch); err != nil {
			return usagef("%s: %s: %v; run: strata lock --update %s", p, lp, err, p)
		}
		j.locks = append(j.locks, l)
	}
	pins, err := locked.BasePins(j.locks)
	if err != nil {
		return usagef("%v", err)
	}
	j.opts = append(j.opts, compose.WithBasePins(pins))
	return nil
}

// checkLocks compares what a --locked job built with its locks, before
// anything is written or pushed.
func (j *buildJob) checkLocks(ctx context.Context, results []*compose.Result) error {
	if j.locks == nil {
		return nil
	}
	for i, res := range results {
		if err := locked.Check(ctx, res, j.locks[i], j.cacheDir); err != nil {
			return fmt.Errorf("%s: --locked: %w", j.paths[i], err)
		}
	}
	return nil
}
