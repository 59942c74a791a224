package main

import (
	"context"
	"fmt"

	"github.com/strata-build/strata/compose"
)

// changedImage is one spec in the --json output of plan --changed.
type changedImage struct {
	Spec       string `json:"spec"`
	Repository string `json:"repository,omitempty"`
	Key        string `json:"key,omitempty"`
	Digest     string `json:"digest,omitempty"` // unchanged only: the image the registry has
}

// runPlanChanged is plan --changed: which specs' images the registry lacks.
func (a *app) runPlanChanged(ctx context.Context, args []string, f *buildFlags) error {
	ctx, cancel := f.reg.withTimeout(ctx)
	defer cancel()
	job, err := a.buildJob(ctx, args, f, nil)
	if err != nil {
		return err
	}
	// Lookups wait on the network, not the CPU: as many at once as push's
	// default --push-jobs.
	c, err := a.lookupRemoteCache(ctx, job, &f.reg, lookupOptions{jobs: 8}, append(job.opts, compose.WithArchiveAsIs()))
	if err != nil {
		return err
	}
	out := struct {
		Changed   []changedImage `json:"changed"`
		Unchanged []changedImage `json:"unchanged"`
	}{Changed: []changedImage{}, Unchanged: []changedImage{}}
	for i, k := range c.keys {
		ci := changedImage{Spec: job.paths[i]}
		if k != nil {
			ci.Key = k.Key
		}
		if c.repos[i] != nil {
			ci.Repository = c.repos[i].String()
		}
		if c.hit(i) {
			ci.Digest = c.hits[i].Digest.String()
			out.Unchanged = append(out.Unchanged, ci)
			continue
		}
		out.Changed = append(out.Changed, ci)
	}
	if f.json {
		return writeJSON(a, out)
	}
	for _, ci := range out.Changed {
		fmt.Fprintln(a.stdout, ci.Spec)
	}
	return nil
}
