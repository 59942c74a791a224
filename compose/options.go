package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Option configures Build and Plan.
type Option func(*options) error

// options is the single place build settings and their defaults live.
type options struct {
	created  time.Time       // every mtime, config created and history time
	jobs     int             // layers built at once
	cacheDir string          // content-addressed blobs, base manifests and the layer-reuse index
	logger   *slog.Logger    // never nil after makeOptions
	remote   []remote.Option // transport and auth for base pulls
	// baseResolver, when set, replaces registry access for bases (tests,
	// offline examples). It receives the spec's base string.
	baseResolver BaseResolver
	// baseCheck says when base layers may be downloaded to check the
	// spec's paths against the base (basetree.go).
	baseCheck BaseCheck
	// singlePlatform refuses, before any layer is built, a spec whose
	// image would have several platforms.
	singlePlatform bool
	// layerFunc, when set, replaces buildLayer (tests of image assembly).
	layerFunc buildLayerFunc
}

// BaseResolver returns the image or index a registry base reference names,
// instead of fetching it. Exactly one of the returned values is non-nil.
type BaseResolver func(ctx context.Context, ref string) (v1.Image, v1.ImageIndex, error)

// makeOptions applies defaults, then opts, and checks the result.
func makeOptions(opts ...Option) (*options, error) {
	o := &options{
		created: time.Unix(0, 0).UTC(),
		jobs:    2,
		logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if o.cacheDir == "" {
		return nil, errors.New("compose: no cache directory given (WithCacheDir)")
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

// WithJobs sets how many layers are built at once (at least 1).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("compose: jobs must be at least 1, got %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithCacheDir sets the directory of the content-addressed blob cache (base
// blobs and manifests, built layers). It is required.
func WithCacheDir(dir string) Option {
	return func(o *options) error {
		o.cacheDir = dir
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
// fetch bases from registries.
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

// WithBaseResolver makes Build and Plan ask r for registry bases instead of
// the network. Bases named "scratch", "oci:" or "docker-archive:" are read as
// usual.
func WithBaseResolver(r BaseResolver) Option {
	return func(o *options) error {
		o.baseResolver = r
		return nil
	}
}
