package compose

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/semaphore"

	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/compose/basetree"
	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/spec"
)

// Option configures Build, Plan and BuildAll.
type Option func(*options) error

// options is the single place build settings and their defaults live.
type options struct {
	created time.Time       // every mtime, config created and history time
	jobs    int             // the concurrency budget; see WithJobs
	logger  *slog.Logger    // never nil after makeOptions
	remote  []remote.Option // transport and auth for base pulls; never a context
	// baseResolver, when set, replaces registry access for bases (tests,
	// offline examples). It receives the spec's base string.
	baseResolver BaseResolver
	// basePins maps a base reference, as written in specs, to the digest
	// it is fetched by instead (see WithBasePins).
	basePins map[string]v1.Hash
	// baseCheck says when base layers may be downloaded to check the
	// spec's paths against the base (package basetree).
	baseCheck BaseCheck
	// singlePlatform refuses, before any layer is built, a spec whose
	// image would have several platforms.
	singlePlatform bool
	// platform, when set, builds the image for this one platform only
	// (see WithPlatform).
	platform *spec.Platform
	// archiveAsIs makes a docker-archive base with nothing added come out
	// as the archive's own image (see WithArchiveAsIs).
	archiveAsIs bool
	// layerFunc, when set, replaces layer.Build (tests of image assembly).
	layerFunc layer.BuildFunc
	// layerTee, when set, receives a copy of every layer blob compressed
	// (see WithLayerTee).
	layerTee LayerTee
	// known finds layers a registry holds (see WithKnownLayers).
	known KnownLayers
	// baseFiles is called once a registry base is resolved (WithBaseFiles).
	baseFiles BaseFiles
	// observer, when set, is shown the layer blobs written and the base
	// layers read (see WithObserver).
	observer Observer
	// keyOnly stops composing after the input key (see Keys).
	keyOnly bool
	// keyed is called as each spec's key is known (see WithKeyed).
	keyed func(i int, res *Result)
	// keyIf decides whether Keys hashes spec i (see WithKeyIf).
	keyIf func(ctx context.Context, i int) bool

	// budget holds one unit per job: every layer build and every base
	// layer indexed takes one while it runs. One budget is shared by all
	// specs of a BuildAll.
	budget *semaphore.Weighted
	// flight lets the specs of one BuildAll read each base layer once to
	// index it.
	flight *basetree.Flight
	tags   *base.Tags  // resolves each base tag once per BuildAll
	sums   *layer.Sums // input hashes shared across calls (WithLayerSums)
}

// BaseResolver returns the image or index a registry base reference names,
// instead of fetching it. Exactly one of the returned values is non-nil.
type BaseResolver = base.Resolver

// makeOptions applies defaults, then opts, and checks the result.
func makeOptions(opts ...Option) (*options, error) {
	o := &options{
		created: time.Unix(0, 0).UTC(),
		jobs:    2,
		logger:  slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	o.budget = semaphore.NewWeighted(int64(o.jobs))
	o.flight = basetree.NewFlight()
	if o.tags == nil {
		o.tags = &base.Tags{}
	}
	return o, nil
}

// WithCreated sets the time stamped on every layer entry, the config's created
// field and every history entry. The default is the Unix epoch.
func WithCreated(t time.Time) Option {
	return func(o *options) error {
		o.created = t.UTC().Truncate(time.Second)
		return nil
	}
}

// WithJobs sets the concurrency budget (at least 1; default 2): n units,
// shared by all the specs of a BuildAll. Building a layer takes one unit,
// indexing a base layer takes one, and hashing a layer's inputs adds a
// worker for each unit that is free at that moment, so at most n of these
// run at once. (The layer compressor keeps its own fixed 4 blocks in flight
// per layer; that does not change the output.)
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("compose: jobs must be at least 1, got %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithLogger sets where progress and warnings are logged; the default
// discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.logger = l
		}
		return nil
	}
}

// WithRemote adds ggcr remote options (transport, auth, user agent) used to
// fetch bases from registries. A context passed here is not used: the
// context given to Build governs base fetches.
func WithRemote(opts ...remote.Option) Option {
	return func(o *options) error {
		o.remote = append(o.remote, opts...)
		return nil
	}
}

// BaseCheck says when Build and Plan may download a registry base's layers
// to check the spec's paths against the base (adding below a base file,
// clear of a non-directory, delete or clear of a missing path).
type BaseCheck int

const (
	// BaseCheckAlways reads every base layer's tar headers, downloading
	// registry layers that are not cached yet. It is the default: a build
	// that writes an OCI layout or a tarball needs those layers anyway.
	BaseCheckAlways BaseCheck = iota
	// BaseCheckWhenRemoving downloads base layers only when a layer of the
	// spec deletes or clears a path. Otherwise the check runs when every
	// base layer's headers are available without the network (an index
	// cached by an earlier build, or a local oci:/docker-archive: base) and
	// is skipped when they are not. For push, which mounts the base's
	// blobs and never needs their bytes, and for plan.
	BaseCheckWhenRemoving
)

// WithBaseCheck sets when base layers may be downloaded for the checks
// against the base; the default is BaseCheckAlways.
func WithBaseCheck(c BaseCheck) Option {
	return func(o *options) error {
		if c != BaseCheckAlways && c != BaseCheckWhenRemoving {
			return fmt.Errorf("compose: unknown base check %d", c)
		}
		o.baseCheck = c
		return nil
	}
}

// WithSinglePlatform makes Build refuse a spec whose image would have more
// than one platform (from platforms:, or a multi-platform base without it)
// with a spec error, as soon as the base is resolved and before any layer is
// built. For outputs that hold one platform, such as a docker tarball.
func WithSinglePlatform() Option {
	return func(o *options) error {
		o.singlePlatform = true
		return nil
	}
}

// WithArchiveAsIs makes Build return, for a spec whose base is a docker
// archive and that adds nothing (no layers, config, annotations or
// platforms), the archive's own image byte for byte instead of recomposing
// it. Push uses it: pushing such a spec publishes the archive unchanged.
func WithArchiveAsIs() Option {
	return func(o *options) error {
		o.archiveAsIs = true
		return nil
	}
}

// WithBasePins makes Build and Plan fetch each registry base named in pins
// (by the reference as a spec writes it, e.g. "nginx:1.27-alpine") by the
// manifest digest it maps to, never resolving the tag: the base a lock file
// recorded, even after the tag moved, and without any request once cached.
// The image's base.name annotation still records the reference as written,
// so a pinned build gives the digest the unpinned build gave. A registry
// that serves another manifest for the digest is an error.
func WithBasePins(pins map[string]v1.Hash) Option {
	return func(o *options) error {
		for ref, h := range pins {
			if h.Algorithm != "sha256" || len(h.Hex) != 64 {
				return fmt.Errorf("compose: base pin for %s: %q is not a sha256 digest", ref, h)
			}
		}
		o.basePins = pins
		return nil
	}
}

// WithBaseResolver makes Build and Plan ask r for registry bases instead of
// the network. Bases named "scratch", "oci:" or "docker-archive:" are read as
// usual.
func WithBaseResolver(r BaseResolver) Option {
	return func(o *options) error {
		o.baseResolver = r
		return nil
	}
}

// WithPlatform makes Build and Plan compose the image for platform p only,
// as if the spec's platforms listed p alone: the result is a single image,
// not an index. p must be one of the spec's platforms or, when the spec
// lists none, one of the base's; otherwise Build fails with an error
// matching ErrNoSuchPlatform before any layer is built.
func WithPlatform(p spec.Platform) Option {
	return func(o *options) error {
		o.platform = &p
		return nil
	}
}

// LayerTee starts a copy of one layer blob of spec s (with defaults
// applied) while the layer is compressed; see WithLayerTee.
type LayerTee func(ctx context.Context, s *spec.Spec) (layer.BlobTee, error)

// WithLayerTee has every layer blob that Build compresses (layers not taken
// from the cache) copied to a tee while it is written, e.g. to upload it to
// a registry at the same time (registry.Streamer). A failing tee never
// fails the build.
func WithLayerTee(t LayerTee) Option {
	return func(o *options) error {
		o.layerTee = t
		return nil
	}
}

// KnownLayers returns, for spec s (with defaults applied), the function
// that finds a layer of s a registry holds by its content key (nil for
// none), or nil when s has no such layers to look for (its layers are then
// not tarred ahead of their write); see WithKnownLayers.
type KnownLayers func(s *spec.Spec) func(ctx context.Context, key string) v1.Layer

// WithKnownLayers lets Build use a layer a registry already holds instead
// of compressing it (a push on a fresh runner reuses the unchanged layers
// of a changed image, named by the registry cache). Such a layer is not
// stored locally, so only a push should use it. Layers with split: auto
// are never looked up.
func WithKnownLayers(k KnownLayers) Option {
	return func(o *options) error {
		o.known = k
		return nil
	}
}

// WithLayerSums shares s, the input hashes computed so far, between calls
// of one command (a push's key pass and its build): an input hashed by the
// first is not read again by the second ahead of its write.
func WithLayerSums(s *layer.Sums) Option {
	return func(o *options) error {
		o.sums = s
		return nil
	}
}

// WithBaseTags shares t, a memo of what each base tag resolved to, between
// calls of one command (a push's key pass and its build): each tag is then
// resolved once, and both see the same digest. By default each BuildAll,
// PlanAll or Keys call has a memo of its own.
func WithBaseTags(t *base.Tags) Option {
	return func(o *options) error {
		o.tags = t
		return nil
	}
}

// BaseFiles is called with a spec and the diffIDs of its registry base's
// layers once the base is resolved, before they are read. It may return
// the header index files of some of them (as basetree.IndexFile holds
// them; nil for the others) known from elsewhere, a registry cache: those
// layers are then not read for the base check, and the indexes are used
// for this build only, never stored.
type BaseFiles func(ctx context.Context, s *spec.Spec, diffIDs []v1.Hash) func(diffID v1.Hash) []byte

// WithBaseFiles sets the BaseFiles hook (a push: see
// remotecache.GetBaseFiles). It is not called in a dry run.
func WithBaseFiles(f BaseFiles) Option {
	return func(o *options) error {
		o.baseFiles = f
		return nil
	}
}

// Observer is shown what Build streams anyway, so that what reads the
// result afterwards (the SBOM, package compose/sbom through
// compose/attach) need not stream it again.
type Observer interface {
	// Blob returns the observer of one layer blob about to be written, or
	// nil.
	Blob(ctx context.Context) layer.BlobObserver
	// BaseLayer returns the visitor of the base layer with diffID d, or
	// nil when the observer need not see it.
	BaseLayer(d v1.Hash) basetree.LayerVisitor
}

// WithObserver has Build show o every layer blob it writes (as it is
// written; see layer.Request.Observe) and every base layer the check
// against the base reads (see basetree.Options.Visit; a base layer o asks
// for is read even when its header index is cached). Plans and cached
// layers are not observed. An observer never changes a layer or image.
func WithObserver(o Observer) Option {
	return func(opts *options) error {
		opts.observer = o
		return nil
	}
}
