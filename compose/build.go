package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/spec"
)

// Result is what Build and Plan produce: the image (or index) and a report of
// every platform and layer in it.
type Result struct {
	// Spec is the spec that was built, with defaults applied.
	Spec *spec.Spec
	// Artifact is the built image (one platform) or OCI index (several).
	Artifact Artifact
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
	// DryRun is true for a Result from Plan: its layers have digests but no
	// stored content, so it cannot be written out.
	DryRun bool
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
	Entries   []Entry // every tar entry in layer order, whiteouts included
}

// Build composes the image described by s. Build runs spec.Validate and
// spec.WithDefaults itself (both pure), so s may come from spec.Load or be
// built in code; a relative context of a spec without a source file is
// resolved against the working directory. Build reads each source file through an os.Root opened on the
// context directory and never re-reads the spec file.
//
// With one platform (from s.Platforms, or the base's) the result is a single
// image; with several it is an OCI index whose manifests follow the platform
// order. Build stores layer blobs in the cache directory (WithCacheDir) but
// writes no output; see WriteOutputs.
func Build(ctx context.Context, s *spec.Spec, opts ...Option) (*Result, error) {
	return composeImage(ctx, s, false, opts)
}

// composeImage is Build (dryRun false) and Plan (dryRun true).
func composeImage(ctx context.Context, s *spec.Spec, dryRun bool, opts []Option) (*Result, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("compose: nil spec")
	}
	// Validate is pure and cheap: a spec built in code gets the same checks
	// as one from spec.Load.
	if err := spec.Validate(s).Err(); err != nil {
		return nil, err
	}
	s = spec.WithDefaults(s, "")
	want, err := wantPlatforms(s)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.Context)
	if err != nil {
		return nil, fmt.Errorf("opening context directory: %w", err)
	}
	defer root.Close()

	base, err := resolveBase(ctx, s.Base, want, o)
	if err != nil {
		return nil, fmt.Errorf("resolving base %s: %w", s.Base, err)
	}
	if len(base.Platforms) == 0 {
		return nil, fmt.Errorf("resolving base %s: no platforms", s.Base)
	}
	if o.singlePlatform && len(base.Platforms) > 1 {
		names := make([]string, len(base.Platforms))
		for i, pb := range base.Platforms {
			names[i] = pb.Platform.String()
		}
		field := "base"
		if len(s.Platforms) > 1 {
			field = "platforms"
		}
		return nil, s.Errorf(field, "the image would have %d platforms (%s), but the output holds one (a docker tarball); set platforms: to one of them, or write an OCI layout",
			len(names), strings.Join(names, ", "))
	}

	var store *blobStore
	if dryRun {
		// Never created on disk: a dry run stores nothing.
		store = &blobStore{dir: o.cacheDir}
	} else if store, err = openBlobStore(o.cacheDir); err != nil {
		return nil, err
	}

	plats := make([]spec.Platform, len(base.Platforms))
	for i, pb := range base.Platforms {
		plats[i] = pb.Platform
	}
	// The base's layer headers are read while the layers build (basetree.go).
	tctx, cancelTrees := context.WithCancel(ctx)
	defer cancelTrees()
	trees := startBaseTrees(tctx, s, base, dryRun, o)
	layers, err := buildLayers(ctx, s, root, plats, store, dryRun, o)
	if err != nil {
		cancelTrees()
		trees.wait()
		return nil, err
	}
	baseRecs, err := trees.wait()
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", s.Base, err)
	}
	if err := checkAgainstBase(s, base, baseRecs, layers); err != nil {
		return nil, err
	}

	res := &Result{Spec: s, BaseRepo: base.Repo, BaseName: base.Name, DryRun: dryRun}
	images := make([]v1.Image, len(base.Platforms))
	for i, pb := range base.Platforms {
		img, pr, err := assemble(s, base.Name, pb, layers[i], o)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", pb.Platform, err)
		}
		images[i] = img
		res.Platforms = append(res.Platforms, *pr)
	}
	if len(images) == 1 {
		res.Artifact = Artifact{Image: images[0]}
	} else {
		idx, err := buildIndex(s, base, images)
		if err != nil {
			return nil, err
		}
		res.Artifact = Artifact{Index: idx}
	}
	if res.Digest, err = res.Artifact.Digest(); err != nil {
		return nil, fmt.Errorf("computing digest: %w", err)
	}
	return res, nil
}

// buildLayers builds every spec layer for every platform, at most o.jobs at a
// time, and returns them indexed [platform][layer]. A layer whose inputs do
// not depend on the platform is built once and shared by all platforms.
func buildLayers(ctx context.Context, s *spec.Spec, root *os.Root, plats []spec.Platform,
	store *blobStore, dryRun bool, o *options) ([][]*builtLayer, error) {
	out := make([][]*builtLayer, len(plats))
	for i := range out {
		out[i] = make([]*builtLayer, len(s.Layers))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	for li := range s.Layers {
		shared := !platformDependent(&s.Layers[li])
		for pi, p := range plats {
			if shared && pi > 0 {
				break
			}
			g.Go(func() error {
				bl, err := o.layerBuilder()(gctx, layerRequest{
					Spec:     s,
					Index:    li,
					Root:     root,
					Platform: p,
					Created:  o.created,
					Store:    store,
					DryRun:   dryRun,
				})
				if err != nil {
					if len(plats) > 1 && !shared {
						return fmt.Errorf("platform %s: %w", p, err)
					}
					return err
				}
				if bl == nil {
					return fmt.Errorf("layer %d: no result", li)
				}
				o.logger.Debug("layer built", "layer", layerName(s, li, bl), "platform", p.String(),
					"shared", shared, "entries", len(bl.Entries), "empty", bl.Layer == nil)
				if shared {
					for k := range out {
						out[k][li] = bl
					}
				} else {
					out[pi][li] = bl
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// platformDependent reports whether a layer's inputs can differ between
// platforms: any ${TARGET…} reference in a file's source, exclusion, target
// or checksum.
func platformDependent(l *spec.Layer) bool {
	for _, f := range l.Files {
		for _, s := range append([]string{f.Src, f.Dest, f.Sha256}, f.Exclude...) {
			if strings.Contains(s, "${TARGET") {
				return true
			}
		}
	}
	return false
}

// layerName is the name a layer shows in history and reports.
func layerName(s *spec.Spec, i int, bl *builtLayer) string {
	if bl != nil && bl.Name != "" {
		return bl.Name
	}
	if s.Layers[i].Name != "" {
		return s.Layers[i].Name
	}
	return fmt.Sprintf("layer-%d", i)
}

// layerBuilder returns the function that builds one layer.
func (o *options) layerBuilder() buildLayerFunc {
	if o.layerFunc != nil {
		return o.layerFunc
	}
	return buildLayer
}
