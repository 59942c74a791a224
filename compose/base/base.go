// Package base resolves a spec's base image: a registry reference (by tag
// or digest), "scratch", an OCI layout or a docker archive, narrowed to the
// spec's platforms.
//
// Registry bases are served from a content-addressed cache (manifests,
// configs and layer blobs, each verified against its digest before it is
// trusted): a base pinned by digest and cached needs no request at all, a
// tag needs one HEAD, and an unreachable registry falls back to the tag's
// last cached resolution. Layer blobs are fetched lazily, on first read.
// Uncompressed docker-archive layers are compressed once, with the pinned
// compressor, into the same cache.
//
// It imports spec (the location grammar), compose/oci (reading local
// images) and strata's internal packages; it knows nothing of layers being
// built, outputs or pushing.
package base

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/spec"
)

// PlatformImage is the base for one platform.
type PlatformImage struct {
	Platform spec.Platform
	Image    v1.Image // layers and config served from the on-disk cache once fetched
	Digest   v1.Hash  // manifest digest of this platform's base image; zero for scratch
}

// Resolved is a spec's base narrowed to the wanted platforms.
type Resolved struct {
	// Name is for the org.opencontainers.image.base.name annotation: the
	// reference as written, with registry defaults made explicit (e.g.
	// docker.io/library/nginx:1.27-alpine). It is "" for scratch and for local
	// bases (oci:, docker-archive:), whose paths must not leak into images.
	Name string
	// Platforms are in the order of want; when want is empty: every platform
	// of the base in index order, linux/amd64 for scratch.
	Platforms []PlatformImage
	// Repo is the registry repository of a registry base (push mounts base
	// blobs from it); nil otherwise.
	Repo *name.Repository
	// Digest is the manifest digest the location resolved to, before
	// narrowing: an index's digest, or a single image's. Zero for scratch.
	Digest v1.Hash
}

// Resolver returns the image or index a registry base reference names,
// instead of fetching it. Exactly one of the returned values is non-nil.
type Resolver func(ctx context.Context, ref string) (v1.Image, v1.ImageIndex, error)

// Options are the optional settings of Resolve.
type Options struct {
	// Remote holds ggcr remote options (transport, auth, user agent) for
	// registry bases; never a context (Resolve's ctx is used).
	Remote []remote.Option
	// Resolver, when set, replaces registry access for registry bases
	// (tests, offline examples). Scratch and local bases are read as usual.
	Resolver Resolver
	// Dir is the directory relative oci: and docker-archive: paths are
	// taken from (the spec file's directory); "" means the working
	// directory.
	Dir string
	// Logger receives warnings (an offline fallback, a corrupt cached
	// blob); nil discards them.
	Logger *slog.Logger
	// Pin, when set, makes a registry base be fetched by this manifest
	// digest (its index or image, as a lock file recorded it) instead of by
	// its reference: a tag is never resolved, so a cached base needs no
	// request at all. Name still records the reference as written.
	Pin v1.Hash
	// Tags, when set, is shared by the resolutions of one command: a tag
	// is resolved once and every spec gets the same digest.
	Tags *Tags
}

// Resolve resolves location (a spec's base string) and narrows it to want.
// Errors do not repeat the location (callers wrap them with it); relative
// paths of local bases are taken from o.Dir. Manifests, configs and blobs of registry
// bases are cached under cacheDir.
//
// ctx governs resolution only. Registry base layers are fetched lazily, on
// first read, under the reader's context: read them with ctxio.Compressed or
// ctxio.Uncompressed (v1.Layer's own methods take no context and fetch
// without a deadline).
func Resolve(ctx context.Context, location string, want []spec.Platform, cacheDir string, o Options) (*Resolved, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := spec.ParseLocation(location)
	if err != nil {
		if location == "" {
			return nil, fmt.Errorf("base: %w", err)
		}
		return nil, fmt.Errorf("base %w", err) // base "LOCATION": …
	}
	if o.Dir != "" {
		if l.Kind == spec.LocationLayout && !filepath.IsAbs(l.Dir) {
			l.Dir = filepath.Join(o.Dir, l.Dir)
		}
		if l.Kind == spec.LocationArchive && !filepath.IsAbs(l.File) {
			l.File = filepath.Join(o.Dir, l.File)
		}
	}
	switch l.Kind {
	case spec.LocationScratch:
		return resolveScratch(want), nil
	case spec.LocationLayout:
		return resolveLayout(ctx, l, want)
	case spec.LocationArchive:
		return resolveArchive(ctx, l, want, cacheDir, o)
	}
	return resolveRegistry(ctx, location, l.Ref, want, cacheDir, o)
}

// resolveScratch returns an empty image per wanted platform.
func resolveScratch(want []spec.Platform) *Resolved {
	if len(want) == 0 {
		want = []spec.Platform{{OS: "linux", Architecture: "amd64"}}
	}
	rb := &Resolved{}
	for _, p := range want {
		rb.Platforms = append(rb.Platforms, PlatformImage{Platform: p, Image: empty.Image})
	}
	return rb
}
