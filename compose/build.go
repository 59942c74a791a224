package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/spec"
)

// Result is what Build and Plan produce: the image (or index) and a report of
// every platform and layer in it.
type Result struct {
	// Spec is the spec that was built, with defaults applied.
	Spec *spec.Spec
	// Artifact is the built image (one platform) or OCI index (several).
	Artifact oci.Artifact
	// Digest is the manifest digest of Artifact.
	Digest v1.Hash
	// Platforms reports each platform's image, in the order of the index.
	Platforms []PlatformResult
	// BaseRepo is the registry repository of the base, nil for scratch and
	// local bases. A push can mount base blobs from it.
	BaseRepo *name.Repository
	// BaseName is the base reference recorded in the
	// org.opencontainers.image.base.name annotation ("" for scratch).
	BaseName string
	// BaseDigest is the manifest digest the base location resolved to
	// before narrowing to platforms (an index's or a single image's); zero
	// for scratch. A lock file records it.
	BaseDigest v1.Hash
	// DryRun is true for a Result from Plan: its layers have digests but no
	// stored content, so it cannot be written out.
	DryRun bool
	// Key is the input key: a sha256 over the spec, the resolved base
	// digests, the created time and every input file's content (see Keys).
	// Builds with the same key give the same Digest. "" when unknown.
	Key string
	// BytesRead counts the context bytes read (to hash or to write
	// layers) and BytesCompressed the layer blob bytes compressed and
	// stored, each layer built for several platforms counted once; both
	// are 0 when every layer came from the layer cache's stat records.
	BytesRead, BytesCompressed int64
	// Warnings are problems that did not stop the build but probably
	// surprise its author, one sentence each, e.g. a platform that got no
	// layers while the others did (an optional source missing for it).
	Warnings []string
}

// PlatformResult reports the image built for one platform.
type PlatformResult struct {
	Platform     spec.Platform
	Digest       v1.Hash // image manifest digest
	ConfigDigest v1.Hash
	// BaseDigest is the manifest digest of the base image for this platform
	// (zero for scratch).
	BaseDigest v1.Hash
	// Layers are the layers strata added, in image order. Layers of the spec
	// that turned out empty are not emitted and are listed in Skipped.
	Layers  []LayerResult
	Skipped []string
	// Changes lists the config fields that differ from the base's config.
	Changes []ConfigChange
}

// LayerResult reports one emitted layer.
type LayerResult struct {
	Name      string
	DiffID    v1.Hash
	Digest    v1.Hash
	Size      int64 // compressed size in bytes
	MediaType string
	Entries   []layer.Entry // every tar entry in layer order, whiteouts included
	// Cached is true when the layer came from the layer cache (nothing was
	// compressed for it by this build).
	Cached bool
	// Registry is true when the layer is one a registry holds
	// (WithKnownLayers); Cached is set too.
	Registry bool
	// Key is the content key of the spec layer it is ("" for a part of a
	// split layer).
	Key string
}

// Build composes the image described by s. Build runs spec.Validate and
// spec.WithDefaults itself (both pure), so s may come from spec.Load or be
// built in code; a relative context of a spec without a source file is
// resolved against the working directory. Build reads each source file
// through an os.Root opened on the context directory and never re-reads the
// spec file; paths the context's .strataignore matches (layer.ReadIgnore)
// are left out of every src glob, as if they were not there. Layer blobs, base blobs and the layer cache live under
// cacheDir.
//
// With one platform (from s.Platforms, or the base's) the result is a single
// image; with several it is an OCI index whose manifests follow the platform
// order. Build writes no output; see WriteOutputs. Registry base layers a
// build did not need are fetched later, under the context of whatever reads
// them (WriteOutputs, a push), never under Build's.
func Build(ctx context.Context, s *spec.Spec, cacheDir string, opts ...Option) (*Result, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	return composeImage(ctx, s, cacheDir, false, o)
}

// BuildAll builds every spec with one concurrency budget (WithJobs) shared
// by all of them, and returns the results in the order of specs. Every spec
// is built to the end. With one spec, its error is returned as it is;
// with several, each failure is a *SpecError naming the spec (names[i], or
// "spec i" when names is nil), and several failures are joined
// (errors.Join) ordered by name and then by index, so that the report is
// the same on every run.
func BuildAll(ctx context.Context, specs []*spec.Spec, names []string, cacheDir string, opts ...Option) ([]*Result, error) {
	return composeAll(ctx, specs, names, cacheDir, false, opts)
}

// PlanAll is Plan for several specs, as BuildAll is Build.
func PlanAll(ctx context.Context, specs []*spec.Spec, names []string, cacheDir string, opts ...Option) ([]*Result, error) {
	return composeAll(ctx, specs, names, cacheDir, true, opts)
}

// composeAll is BuildAll (dryRun false) and PlanAll (dryRun true).
func composeAll(ctx context.Context, specs []*spec.Spec, names []string, cacheDir string, dryRun bool, opts []Option) ([]*Result, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	results := make([]*Result, len(specs))
	errs := make([]error, len(specs))
	var g errgroup.Group
	g.SetLimit(o.jobs)
	for i, s := range specs {
		g.Go(func() error {
			if o.keyOnly && o.keyIf != nil && !o.keyIf(ctx, i) {
				return nil
			}
			results[i], errs[i] = composeImage(ctx, s, cacheDir, dryRun, o)
			if errs[i] == nil && o.keyOnly && o.keyed != nil {
				o.keyed(i, results[i])
			}
			return nil
		})
	}
	g.Wait()
	if len(specs) == 1 {
		if errs[0] != nil {
			return nil, errs[0]
		}
		return results, nil
	}
	if err := joinSpecErrors(names, errs); err != nil {
		return nil, err
	}
	return results, nil
}

// SpecError is the failure of one of several specs built by BuildAll or
// PlanAll.
type SpecError struct {
	// Name is the spec's name as given to BuildAll, or "spec i".
	Name string
	// Err is why the spec failed.
	Err error
}

// Error returns the name, a colon and the failure.
func (e *SpecError) Error() string { return e.Name + ": " + e.Err.Error() }

// Unwrap returns the failure.
func (e *SpecError) Unwrap() error { return e.Err }

// joinSpecErrors prefixes each non-nil errs[i] with its spec's name (or
// "spec i") and joins them in the order of the names, then the indices.
// One failure is returned unjoined.
func joinSpecErrors(names []string, errs []error) error {
	type failed struct {
		name string
		i    int
		err  error
	}
	var fs []failed
	for i, err := range errs {
		if err == nil {
			continue
		}
		f := failed{name: fmt.Sprintf("spec %d", i), i: i}
		if names != nil {
			f.name = names[i]
		}
		f.err = &SpecError{Name: f.name, Err: err}
		fs = append(fs, f)
	}
	if len(fs) == 0 {
		return nil
	}
	sort.SliceStable(fs, func(a, b int) bool {
		if fs[a].name != fs[b].name {
			return names != nil && fs[a].name < fs[b].name
		}
		return fs[a].i < fs[b].i
	})
	if len(fs) == 1 {
		return fs[0].err
	}
	out := make([]error, len(fs))
	for k, f := range fs {
		out[k] = f.err
	}
	return errors.Join(out...)
}

// composeImage is Build (dryRun false) and Plan (dryRun true).
func composeImage(ctx context.Context, s *spec.Spec, cacheDir string, dryRun bool, o *options) (*Result, error) {
	if s == nil {
		return nil, errors.New("compose: nil spec")
	}
	if cacheDir == "" {
		return nil, errors.New("compose: no cache directory given")
	}
	// Validate is pure and cheap: a spec built in code gets the same checks
	// as one from spec.Load.
	if err := spec.Validate(s).Err(); err != nil {
		return nil, err
	}
	s = spec.WithDefaults(s, "")
	if o.archiveAsIs && !dryRun && o.platform == nil && !o.keyOnly {
		if res, ok, err := archiveAsIs(ctx, s, cacheDir); ok || err != nil {
			return res, err
		}
	}
	want, err := wantPlatforms(s)
	if err != nil {
		return nil, err
	}
	if o.platform != nil {
		if s, want, err = onePlatform(s, want, *o.platform); err != nil {
			return nil, err
		}
	}
	if err := checkContextBound(s); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.Context)
	if err != nil {
		return nil, fmt.Errorf("opening context directory: %w", err)
	}
	defer root.Close()
	ignore, err := layer.ReadIgnore(root)
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", s.Context, err)
	}

	// Relative oci: and docker-archive: bases are taken from the spec
	// file's directory, like context.
	var specDir string
	if src := s.Source(); src != nil {
		specDir = src.Dir
	}
	// The layers that need nothing of the base build while it is resolved,
	// unless the output holds one platform: a base with several is then
	// refused before any layer is built, and nothing is stored.
	var lb *layerBuild
	defer func() { lb.abort() }()
	if !o.singlePlatform {
		if lb, err = startLayers(ctx, s, root, ignore, cacheDir, dryRun, o); err != nil {
			return nil, err
		}
	}
	rb, err := base.Resolve(ctx, s.Base, want, cacheDir, base.Options{Remote: o.remote, Resolver: o.baseResolver, Logger: o.logger, Pin: o.basePins[s.Base], Dir: specDir, Tags: o.tags})
	if err != nil {
		return nil, fmt.Errorf("resolving base %s: %w", s.Base, err)
	}
	if len(rb.Platforms) == 0 {
		return nil, fmt.Errorf("resolving base %s: no platforms", s.Base)
	}
	if o.platform != nil && len(want) == 0 {
		if err := narrowBase(rb, *o.platform); err != nil {
			return nil, err
		}
	}
	if o.singlePlatform && len(rb.Platforms) > 1 {
		names := make([]string, len(rb.Platforms))
		for i, pb := range rb.Platforms {
			names[i] = pb.Platform.String()
		}
		field := "base"
		if len(s.Platforms) > 1 {
			field = "platforms"
		}
		return nil, s.Errorf(field, "the image would have %d platforms (%s), but the output holds one (a docker tarball); set platforms: to one of them, or write an OCI layout",
			len(names), strings.Join(names, ", "))
	}
	if lb == nil {
		if lb, err = startLayers(ctx, s, root, ignore, cacheDir, dryRun, o); err != nil {
			return nil, err
		}
	}

	plats := make([]spec.Platform, len(rb.Platforms))
	for i, pb := range rb.Platforms {
		plats[i] = pb.Platform
	}
	if o.keyOnly {
		layers, err := lb.finish(plats)
		if err != nil {
			return nil, err
		}
		key, err := imageKey(s, rb, layers, o)
		res := &Result{Spec: s, Key: key, BaseRepo: rb.Repo, BaseName: rb.Name, BaseDigest: rb.Digest, DryRun: true}
		res.BytesRead, res.BytesCompressed = layerBytes(layers)
		return res, err
	}
	// The base's layer headers are read while the layers build.
	tctx, cancelTrees := context.WithCancel(ctx)
	defer cancelTrees()
	trees := startBaseTrees(tctx, s, rb, cacheDir, dryRun, o)
	layers, err := lb.finish(plats)
	if err != nil {
		cancelTrees()
		trees.wait()
		return nil, err
	}
	if err := trees.check(s, plats, layers); err != nil {
		return nil, err
	}

	key, err := imageKey(s, rb, layers, o)
	if err != nil {
		return nil, err
	}
	res := &Result{Spec: s, Key: key, BaseRepo: rb.Repo, BaseName: rb.Name, BaseDigest: rb.Digest, DryRun: dryRun}
	res.BytesRead, res.BytesCompressed = layerBytes(layers)
	images := make([]v1.Image, len(rb.Platforms))
	for i, pb := range rb.Platforms {
		img, pr, err := assemble(s, rb.Name, pb, layers[i], o)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", pb.Platform, err)
		}
		images[i] = img
		res.Platforms = append(res.Platforms, *pr)
	}
	res.Warnings = emptyPlatformWarnings(res.Platforms)
	if len(images) == 1 {
		res.Artifact = oci.Artifact{Image: images[0]}
	} else {
		idx, err := buildIndex(s, rb, images)
		if err != nil {
			return nil, err
		}
		res.Artifact = oci.Artifact{Index: idx}
	}
	if res.Digest, err = res.Artifact.Digest(); err != nil {
		return nil, fmt.Errorf("computing digest: %w", err)
	}
	return res, nil
}

// emptyPlatformWarnings warns about each platform that got no layers of
// the spec while another platform got some: every source of it was optional
// and missing, so its image lacks what the others carry.
func emptyPlatformWarnings(plats []PlatformResult) []string {
	var full *PlatformResult
	for i := range plats {
		if len(plats[i].Layers) > 0 {
			full = &plats[i]
			break
		}
	}
	if full == nil {
		return nil
	}
	var out []string
	for _, p := range plats {
		if len(p.Layers) == 0 && len(p.Skipped) > 0 {
			out = append(out, fmt.Sprintf("platform %s has no layers (empty, not emitted: %s) while %s has %d; is a source missing for %s?",
				p.Platform, strings.Join(p.Skipped, ", "), full.Platform, len(full.Layers), p.Platform))
		}
	}
	return out
}
