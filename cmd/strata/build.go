package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/spec"
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
	reg       registryFlags

	// check, when set, is run on every loaded spec before anything is
	// built (a usage problem found early costs no build).
	check func(path string, s *spec.Spec) error
}

func (f *buildFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.sets, "set", nil, "set a spec variable, `KEY=VALUE` (repeatable; wins over the environment)")
	c.Flags().IntVar(&f.jobs, "jobs", runtime.NumCPU(), "layers (and specs) built at once")
	c.Flags().StringVar(&f.cacheDir, "cache-dir", "", "layer and base blob cache (default $XDG_CACHE_HOME/strata or ~/.cache/strata)")
	c.Flags().BoolVar(&f.json, "json", false, "print the result as JSON")
	c.Flags().StringVar(&f.baseCheck, "base-check", "full", "check the spec against the base's files: full (download a registry base's layers once if needed) or removals (download only when a layer deletes or clears; otherwise check only with a cached base)")
	f.reg.register(c)
}

func (a *app) buildCmd() *cobra.Command {
	var f buildFlags
	var ociDir, tarball string
	c := &cobra.Command{
		Use:   "build [SPEC...]",
		Short: "Compose images and write them to an OCI layout and/or a docker tarball",
		Long: `Build composes each spec (default: image.yaml in the current directory) into
an image, or an OCI index when it has several platforms, and prints its digest.

The image is written to --oci DIR (an OCI image layout, under the spec's first
tag or "latest") and/or --tarball FILE (docker-save format, for docker load).
With neither flag it goes to the local store $XDG_DATA_HOME/strata/oci
(default ~/.local/share/strata/oci). Outputs are written only after every
spec has built; a failure leaves them untouched.

SOURCE_DATE_EPOCH (an integer from 0 to 8589934591) sets every file mtime,
the config's created time and the history times; unset or empty means 0.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBuild(cmd.Context(), args, &f, ociDir, tarball)
		},
	}
	f.register(c)
	c.Flags().StringVar(&ociDir, "oci", "", "write an OCI image layout to `DIR`")
	c.Flags().StringVar(&tarball, "tarball", "", "write a docker-save tarball to `FILE` (one spec only)")
	return c
}

// built is one spec's build, kept until every spec has succeeded.
type built struct {
	path string
	res  *compose.Result
	outs compose.Outputs
}

// buildReport is the --json shape of one built spec.
type buildReport struct {
	Spec      string           `json:"spec"`
	Digest    string           `json:"digest"`
	Platforms []platformReport `json:"platforms"`
	Outputs   []string         `json:"outputs,omitempty"` // build only
}

type platformReport struct {
	Platform string        `json:"platform"`
	Digest   string        `json:"digest"`
	Layers   []layerReport `json:"layers"`
	// Plan only:
	Skipped []string               `json:"skipped,omitempty"`
	Changes []compose.ConfigChange `json:"changes,omitempty"`
}

type layerReport struct {
	Name    string          `json:"name"`
	DiffID  string          `json:"diffID"`
	Digest  string          `json:"digest"`
	Size    int64           `json:"size"`
	Entries []compose.Entry `json:"entries,omitempty"` // plan only
}

func (a *app) runBuild(ctx context.Context, args []string, f *buildFlags, ociDir, tarball string) error {
	paths := specPaths(args)
	ctx, cancel := f.reg.withTimeout(ctx)
	defer cancel()
	if tarball != "" && len(paths) > 1 {
		return usagef("--tarball writes one image; got %d specs", len(paths))
	}
	opts, err := a.composeOptions(ctx, f)
	if err != nil {
		return err
	}
	if tarball != "" {
		// A multi-platform base without platforms: is caught by Build as
		// soon as the base is resolved.
		opts = append(opts, compose.WithSinglePlatform())
		f.check = func(path string, s *spec.Spec) error {
			if len(s.Platforms) > 1 {
				return usagef("%s: --tarball writes one platform, but the spec builds %d (%s); write an OCI layout with --oci, or build one platform",
					path, len(s.Platforms), strings.Join(s.Platforms, ", "))
			}
			return nil
		}
	}
	results, err := a.composeAll(ctx, paths, f, opts, compose.Build)
	if err != nil {
		return redacted(err, &f.reg)
	}
	// Every spec built: now write the outputs.
	builds := make([]built, len(results))
	for i, res := range results {
		b := built{path: paths[i], res: res}
		switch {
		case ociDir != "" || tarball != "":
			b.outs.LayoutDir = ociDir
			// One spec: the bare tag (oci:DIR:v1). Several specs share
			// the layout, so each is named repo:tag as in the store.
			b.outs.LayoutRef = layoutRef(res.Spec)
			if len(paths) > 1 {
				b.outs.LayoutRef = storeRef(res.Spec)
			}
		default:
			b.outs.LayoutDir = a.defaultStore()
			b.outs.LayoutRef = storeRef(res.Spec)
		}
		if tarball != "" {
			b.outs.TarballPath = tarball
			if b.outs.TarballRefs, err = tarballRefs(res.Spec); err != nil {
				return err
			}
		}
		builds[i] = b
	}
	// Two specs written under one ref name would keep only the last image:
	// refuse before anything is written.
	seen := map[string]string{}
	for _, b := range builds {
		if b.outs.LayoutDir == "" {
			continue
		}
		key := b.outs.LayoutDir + "\x00" + b.outs.LayoutRef
		if prev, ok := seen[key]; ok {
			return usagef("%s and %s would both be written as %q in %s; give them different tags or image repositories", prev, b.path, b.outs.LayoutRef, b.outs.LayoutDir)
		}
		seen[key] = b.path
	}
	for _, b := range builds {
		if err := compose.WriteOutputs(ctx, b.res, b.outs); err != nil {
			return redacted(fmt.Errorf("%s: %w", b.path, err), &f.reg)
		}
	}
	for _, b := range builds {
		var outputs []string
		if b.outs.LayoutDir != "" {
			outputs = append(outputs, "oci:"+b.outs.LayoutDir+":"+b.outs.LayoutRef)
		}
		if b.outs.TarballPath != "" {
			outputs = append(outputs, "docker-archive:"+b.outs.TarballPath)
		}
		if f.json {
			r := report(b.path, b.res, false)
			r.Outputs = outputs
			if err := writeJSON(a, r); err != nil {
				return err
			}
			continue
		}
		for _, o := range outputs {
			fmt.Fprintf(a.stderr, "strata: %s: wrote %s\n", b.path, o)
		}
		fmt.Fprintln(a.stdout, b.res.Digest)
	}
	return nil
}

// specPaths returns the spec files named on the command line, or image.yaml.
func specPaths(args []string) []string {
	if len(args) == 0 {
		return []string{defaultSpec}
	}
	return args
}

// composeOptions turns flags and the environment into compose options.
func (a *app) composeOptions(ctx context.Context, f *buildFlags) ([]compose.Option, error) {
	if f.jobs < 1 {
		return nil, usagef("--jobs must be at least 1, got %d", f.jobs)
	}
	created, err := sourceDateEpoch(a.env["SOURCE_DATE_EPOCH"])
	if err != nil {
		return nil, err
	}
	cache := f.cacheDir
	if cache == "" {
		if cache, err = a.userDir("XDG_CACHE_HOME", ".cache"); err != nil {
			return nil, usagef("no cache directory: %v; pass --cache-dir", err)
		}
	}
	cfg, err := a.transportConfig(&f.reg)
	if err != nil {
		return nil, err
	}
	f.reg.cfg = cfg
	ropts, err := compose.RemoteOptions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	check := compose.BaseCheckAlways
	switch f.baseCheck {
	case "full":
	case "removals":
		check = compose.BaseCheckWhenRemoving
	default:
		return nil, usagef("--base-check %q: want full or removals", f.baseCheck)
	}
	return []compose.Option{
		compose.WithBaseCheck(check),
		compose.WithCreated(created),
		compose.WithJobs(f.jobs),
		compose.WithCacheDir(cache),
		compose.WithRemote(ropts...),
	}, nil
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

// composeAll loads every spec and runs fn (Build or Plan) on each, at most
// f.jobs at a time. Results are in argument order; the first error wins.
func (a *app) composeAll(ctx context.Context, paths []string, f *buildFlags, opts []compose.Option,
	fn func(context.Context, *spec.Spec, ...compose.Option) (*compose.Result, error)) ([]*compose.Result, error) {
	vars, err := parseSets(f.sets)
	if err != nil {
		return nil, err
	}
	specs := make([]*spec.Spec, len(paths))
	for i, p := range paths {
		s, err := spec.Load(p, spec.LoadOptions{Vars: vars, LookupEnv: a.lookupEnv})
		if err != nil {
			// An unreadable spec is a spec problem too (exit 2), as in validate.
			return nil, asErrorList(p, err)
		}
		if f.check != nil {
			if err := f.check(p, s); err != nil {
				return nil, err
			}
		}
		specs[i] = s
	}
	results := make([]*compose.Result, len(paths))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.jobs)
	var mu sync.Mutex
	for i, s := range specs {
		g.Go(func() error {
			res, err := fn(gctx, s, opts...)
			if err != nil {
				if len(paths) > 1 {
					return fmt.Errorf("%s: %w", paths[i], err)
				}
				return err
			}
			mu.Lock()
			results[i] = res
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// layoutRef is the ref name an OCI layout records the image under: the
// spec's first tag (the tag part of a full reference), else "latest".
func layoutRef(s *spec.Spec) string {
	if len(s.Tags) == 0 {
		return "latest"
	}
	t := s.Tags[0]
	if strings.ContainsAny(t, "/:") {
		if tag, err := name.NewTag(t); err == nil {
			return tag.TagStr()
		}
	}
	return t
}

// storeRef is the ref name in the shared default store, where many specs
// meet: the first tag as a full reference when the spec names a repository
// (image: or a full tag), else as layoutRef.
func storeRef(s *spec.Spec) string {
	tag := "latest"
	if len(s.Tags) > 0 {
		tag = s.Tags[0]
	}
	if strings.ContainsAny(tag, "/:") {
		return tag
	}
	if s.Image != "" {
		return s.Image + ":" + tag
	}
	return tag
}

// tarballRefs are the repo:tag names a docker tarball records: full tags as
// written, bare tags in the spec's image repository (skipped without one).
func tarballRefs(s *spec.Spec) ([]name.Tag, error) {
	var out []name.Tag
	for _, t := range s.Tags {
		full := t
		if !strings.ContainsAny(t, "/:") {
			if s.Image == "" {
				continue
			}
			full = s.Image + ":" + t
		}
		tag, err := name.NewTag(full)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w", t, err)
		}
		out = append(out, tag)
	}
	return out, nil
}

// report renders a Result in the --json shape; plan adds entries, skipped
// layers and config changes.
func report(path string, res *compose.Result, plan bool) buildReport {
	r := buildReport{Spec: path, Digest: res.Digest.String(), Outputs: []string{}}
	for _, p := range res.Platforms {
		pr := platformReport{Platform: p.Platform.String(), Digest: p.Digest.String(), Layers: []layerReport{}}
		for _, l := range p.Layers {
			lr := layerReport{Name: l.Name, DiffID: l.DiffID.String(), Digest: l.Digest.String(), Size: l.Size}
			if plan {
				lr.Entries = l.Entries
			}
			pr.Layers = append(pr.Layers, lr)
		}
		if plan {
			pr.Skipped = p.Skipped
			pr.Changes = p.Changes
		}
		r.Platforms = append(r.Platforms, pr)
	}
	return r
}

func writeJSON(a *app, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}
