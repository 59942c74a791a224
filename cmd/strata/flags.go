package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/spec"
	"github.com/strata-build/strata/spec/lock"
)

// buildFlags are the flags build, plan and push share. Registry access
// (base pulls, pushes) follows one policy, set by the registry flags.
type buildFlags struct {
	cue       cueFlags
	sets      []string
	jobs      int
	cacheDir  string
	json      bool
	baseCheck string
	locked    bool   // --locked or STRATA_LOCKED=1: build from and check against the lock files
	platform  string // --platform: build this one platform only
	shard     string // --shard I/N: build only this share of the specs
	reg       registryFlags
	// local is set by build and plan, which push nothing: a semver naming
	// an unset variable is then a warning, not an error.
	local bool
	// plan is set by plan, which writes nothing, not even the cache.
	plan bool
}

func (f *buildFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.sets, "set", nil, "set a spec variable, `KEY=VALUE` (repeatable; wins over the environment)")
	c.Flags().IntVar(&f.jobs, "jobs", runtime.NumCPU(), "the concurrency budget: layers built (across all specs) and blobs written at once")
	c.Flags().StringVar(&f.cacheDir, "cache-dir", "", "layer and base blob cache (default $XDG_CACHE_HOME/strata or ~/.cache/strata)")
	c.Flags().BoolVar(&f.json, "json", false, "print the result as JSON")
	c.Flags().StringVar(&f.baseCheck, "base-check", "full", "check the spec against the base's files: full (download a registry base's layers once if needed) or removals (download only when a layer deletes or clears; otherwise check only with a cached base)")
	c.Flags().BoolVar(&f.locked, "locked", false, "take each base by its lock file's digest and fail unless the result is what the lock says (also STRATA_LOCKED=1)")
	c.Flags().StringVar(&f.platform, "platform", "", "build for this one `OS/ARCH[/VARIANT]` only: one of the spec's platforms, or the base's when the spec lists none")
	c.Flags().StringVar(&f.shard, "shard", "", "build only share `I/N` of the specs (deterministic, balanced by input size; run N jobs with I = 1…N)")
	f.reg.register(c)
	f.cue.register(c)
}

// buildJob is what build, plan and push get from their flags, the
// environment and the spec files: the specs, where they came from, the
// cache directory and the compose options.
type buildJob struct {
	paths    []string
	specs    []*spec.Spec
	cacheDir string
	opts     []compose.Option
	epoch    int64        // SOURCE_DATE_EPOCH in seconds
	locks    []*lock.Lock // with --locked, one per spec
}

// buildJob turns flags, the environment and the spec files named in args
// (default: spec.Find in the working directory) into a buildJob. check,
// when set, is run on every loaded spec before anything is built. The
// cache is marked in use until the command is done.
func (a *app) buildJob(ctx context.Context, args []string, f *buildFlags, check func(path string, s *spec.Spec) error) (*buildJob, error) {
	if f.jobs < 1 {
		return nil, usagef("--jobs must be at least 1, got %d", f.jobs)
	}
	created, err := sourceDateEpoch(a.env["SOURCE_DATE_EPOCH"])
	if err != nil {
		return nil, err
	}
	if args, err = expandPatterns(args); err != nil {
		return nil, err
	}
	j := &buildJob{paths: args, cacheDir: f.cacheDir, epoch: created.Unix()}
	if len(j.paths) == 0 {
		p, err := defaultSpec()
		if err != nil {
			return nil, err
		}
		j.paths = []string{p}
	}
	a.specPaths = j.paths
	if j.cacheDir == "" {
		if j.cacheDir, err = a.userDir("XDG_CACHE_HOME", ".cache"); err != nil {
			return nil, usagef("no cache directory: %v; pass --cache-dir", err)
		}
	}
	// Marked in use for prune; plan only reads a cache that exists.
	if _, err := os.Stat(j.cacheDir); err == nil || !f.plan {
		a.use(j.cacheDir)
	}
	cfg, err := a.transportConfig(&f.reg)
	if err != nil {
		return nil, err
	}
	f.reg.cfg = cfg
	ropts, err := registry.RemoteOptions(cfg)
	if err != nil {
		return nil, err
	}
	baseCheck := compose.BaseCheckAlways
	switch f.baseCheck {
	case "full":
	case "removals":
		baseCheck = compose.BaseCheckWhenRemoving
	default:
		return nil, usagef("--base-check %q: want full or removals", f.baseCheck)
	}
	j.opts = []compose.Option{
		compose.WithBaseCheck(baseCheck),
		compose.WithCreated(created),
		compose.WithJobs(f.jobs),
		compose.WithRemote(ropts...),
		compose.WithLogger(slog.New(&warnHandler{w: f.reg.stderr})),
	}
	if f.platform != "" {
		p, err := spec.ParsePlatform(f.platform)
		if err != nil {
			return nil, usagef("--platform: %v", err)
		}
		j.opts = append(j.opts, compose.WithPlatform(p))
	}
	vars, err := parseSets(f.sets)
	if err != nil {
		return nil, err
	}
	lo, err := f.cue.loadOptions(vars, a.lookupEnv)
	if err != nil {
		return nil, err
	}
	lo.SemverOptional, lo.Warn = f.local, a.warnSpec
	// Every spec is loaded and every problem reported, ordered by path.
	var bad []specFailure
	for _, p := range j.paths {
		s, err := spec.LoadContext(ctx, p, lo)
		if err != nil && (errors.Is(err, spec.ErrBudget) || ctx.Err() != nil) {
			return nil, err
		}
		if err != nil {
			// An unreadable spec is a spec problem too (exit 2), as in validate.
			bad = append(bad, specFailure{p, asErrorList(p, err)})
		} else if check != nil {
			if err := check(p, s); err != nil {
				bad = append(bad, specFailure{p, err})
			}
		}
		j.specs = append(j.specs, s)
	}
	if len(bad) > 0 {
		return nil, joinFailures(bad)
	}
	if f.shard != "" {
		if err := j.shard(f.shard); err != nil {
			return nil, err
		}
	}
	if envLocked, err := a.lockedFromEnv(); err != nil {
		return nil, err
	} else if f.locked || envLocked {
		if err := a.loadLocks(j); err != nil {
			return nil, err
		}
	}
	return j, nil
}
