package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/spec"
	"github.com/strata-build/strata/spec/lock"
)

// defaultSpec is the spec file build and plan read when none is named.
const defaultSpec = "image.yaml"

// maxSourceDateEpoch is the largest mtime an 11-digit octal tar header field
// holds (year 2242).
const maxSourceDateEpoch = 8589934591

// buildFlags are the flags build, plan and push share. Registry access
// (base pulls, pushes) follows one policy, set by the registry flags.
type buildFlags struct {
	sets      []string
	jobs      int
	cacheDir  string
	json      bool
	baseCheck string
	locked    bool   // --locked or STRATA_LOCKED=1: build from and check against the lock files
	shard     string // --shard I/N: build only this share of the specs
	reg       registryFlags
}

func (f *buildFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.sets, "set", nil, "set a spec variable, `KEY=VALUE` (repeatable; wins over the environment)")
	c.Flags().IntVar(&f.jobs, "jobs", runtime.NumCPU(), "the concurrency budget: layers built (across all specs) and blobs written at once")
	c.Flags().StringVar(&f.cacheDir, "cache-dir", "", "layer and base blob cache (default $XDG_CACHE_HOME/strata or ~/.cache/strata)")
	c.Flags().BoolVar(&f.json, "json", false, "print the result as JSON")
	c.Flags().StringVar(&f.baseCheck, "base-check", "full", "check the spec against the base's files: full (download a registry base's layers once if needed) or removals (download only when a layer deletes or clears; otherwise check only with a cached base)")
	c.Flags().BoolVar(&f.locked, "locked", false, "take each base by its lock file's digest and fail unless the result is what the lock says (also STRATA_LOCKED=1)")
	c.Flags().StringVar(&f.shard, "shard", "", "build only share `I/N` of the specs (deterministic, balanced by input size; run N jobs with I = 1…N)")
	f.reg.register(c)
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
// (default image.yaml) into a buildJob. check, when set, is run on every
// loaded spec before anything is built.
func (a *app) buildJob(args []string, f *buildFlags, check func(path string, s *spec.Spec) error) (*buildJob, error) {
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
		j.paths = []string{defaultSpec}
	}
	if j.cacheDir == "" {
		if j.cacheDir, err = a.userDir("XDG_CACHE_HOME", ".cache"); err != nil {
			return nil, usagef("no cache directory: %v; pass --cache-dir", err)
		}
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
	}
	vars, err := parseSets(f.sets)
	if err != nil {
		return nil, err
	}
	for _, p := range j.paths {
		s, err := spec.Load(p, spec.LoadOptions{Vars: vars, LookupEnv: a.lookupEnv})
		if err != nil {
			// An unreadable spec is a spec problem too (exit 2), as in validate.
			return nil, asErrorList(p, err)
		}
		if check != nil {
			if err := check(p, s); err != nil {
				return nil, err
			}
		}
		j.specs = append(j.specs, s)
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

// sourceDateEpoch parses SOURCE_DATE_EPOCH strictly: decimal digits only,
// 0..8589934591. Empty means unset (the epoch).
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || strings.TrimLeft(v, "0123456789") != "" || n < 0 || n > maxSourceDateEpoch {
		return time.Time{}, usagef("SOURCE_DATE_EPOCH=%q: want an integer number of seconds from 0 to %d", v, int64(maxSourceDateEpoch))
	}
	return time.Unix(n, 0).UTC(), nil
}

// userDir returns $XDG_VAR/strata, or ~/DEFAULT/strata, from the captured
// environment.
func (a *app) userDir(xdgVar, def string) (string, error) {
	if d := a.env[xdgVar]; d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "strata"), nil
	}
	home := a.env["HOME"]
	if home == "" {
		return "", fmt.Errorf("neither $%s nor $HOME is set", xdgVar)
	}
	return filepath.Join(home, def, "strata"), nil
}

// defaultStore is the OCI layout build writes to without --oci or --tarball.
func (a *app) defaultStore() string {
	d, err := a.userDir("XDG_DATA_HOME", filepath.Join(".local", "share"))
	if err != nil {
		return filepath.Join(".strata", "oci")
	}
	return filepath.Join(d, "oci")
}
