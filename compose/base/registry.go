package base

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/spec"
)

// resolveRegistry resolves a registry base: through o.Resolver when set,
// else through the cache and the registry.
func resolveRegistry(ctx context.Context, base string, ref name.Reference, want []spec.Platform, cacheDir string, o Options) (*Resolved, error) {
	repo := ref.Context()
	rb := &Resolved{Name: spec.FullName(ref), Repo: &repo}
	if o.Pin != (v1.Hash{}) {
		// The lock's digest, never the tag: the reference as written stays
		// in Name (and so in the image's annotations).
		ref = repo.Digest(o.Pin.String())
		base = ref.String()
	}
	var (
		img v1.Image
		idx v1.ImageIndex
		err error
	)
	if o.Resolver != nil {
		img, idx, err = o.Resolver(ctx, base)
		if err != nil {
			return nil, err
		}
		if (img == nil) == (idx == nil) {
			return nil, errors.New("base resolver must return exactly one of an image or an index")
		}
	} else {
		img, idx, err = fetchRegistryBase(ctx, ref, cacheDir, o)
		if err != nil {
			return nil, err
		}
	}
	if idx != nil {
		rb.Digest, err = idx.Digest()
		if err == nil {
			rb.Platforms, err = narrowIndex(ctx, idx, want)
		}
	} else {
		rb.Digest, err = img.Digest()
		if err == nil {
			rb.Platforms, err = narrowImage(img, want)
		}
	}
	if err != nil {
		return nil, err
	}
	if o.Pin != (v1.Hash{}) && rb.Digest != o.Pin {
		return nil, fmt.Errorf("pinned to %s, but the registry served %s", o.Pin, rb.Digest)
	}
	return rb, nil
}

// fetchRegistryBase returns the cache-backed image or index ref names.
func fetchRegistryBase(ctx context.Context, ref name.Reference, cacheDir string, o Options) (v1.Image, v1.ImageIndex, error) {
	store, err := blobstore.Open(cacheDir)
	if err != nil {
		return nil, nil, err
	}
	f := newBaseFetcher(ref.Context(), store, o)
	var h v1.Hash
	if d, ok := ref.(name.Digest); ok {
		if h, err = v1.NewHash(d.DigestStr()); err != nil {
			return nil, nil, err
		}
	} else if h, err = o.Tags.resolve(ctx, ref.Name(), func() (v1.Hash, error) { return f.resolveTag(ctx, ref, cacheDir) }); err != nil {
		return nil, nil, err
	}
	raw, err := f.manifest(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	kind, err := manifestKind(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	mt := types.MediaType(kind)
	switch {
	case mt.IsIndex():
		idx, err := newCachedIndex(f, h, raw, mt)
		return nil, idx, err
	case mt.IsImage():
		img, err := newCachedImage(ctx, f, h, raw, mt)
		return img, nil, err
	}
	return nil, nil, fmt.Errorf("manifest %s has unsupported media type %q", h, mt)
}

// resolveTag asks the registry which manifest the tag names (one HEAD, and a
// GET only when the registry won't answer HEAD), and records the answer in
// the cache's ref index. When the registry cannot be reached at all (not an
// HTTP error: a dial failure, a timeout), the last recorded answer is used
// with a warning, if its manifest is cached.
func (f *baseFetcher) resolveTag(ctx context.Context, ref name.Reference, cacheDir string) (v1.Hash, error) {
	refs := refIndex{dir: filepath.Join(cacheDir, "refs")}
	if h, ok := refs.get(ref.Name()); !ok || !f.store.Has(h) {
		// Nothing cached that a HEAD could confirm (a fresh runner): one
		// GET answers what a HEAD and a GET by digest would in two round
		// trips, and counts as one pull on registries that count them.
		d, err := remote.Get(ref, f.opts(ctx)...)
		if err == nil {
			return f.keepResolution(refs, ref, d)
		}
		if !unreachable(ctx, err) {
			return v1.Hash{}, err
		}
		return v1.Hash{}, fmt.Errorf("%w (no cached resolution of %s to use offline)", err, ref.Name())
	}
	desc, err := remote.Head(ref, f.opts(ctx)...)
	if err == nil {
		if err := refs.put(ref.Name(), desc.Digest); err != nil {
			return v1.Hash{}, err
		}
		return desc.Digest, nil
	}
	if !unreachable(ctx, err) {
		// Some registries answer HEAD without a digest; GET gives the digest
		// or a better error.
		d, gerr := remote.Get(ref, f.opts(ctx)...)
		if gerr == nil {
			return f.keepResolution(refs, ref, d)
		}
		err = gerr
		if !unreachable(ctx, err) {
			return v1.Hash{}, err
		}
	}
	h, ok := refs.get(ref.Name())
	if !ok || !f.store.Has(h) {
		return v1.Hash{}, fmt.Errorf("%w (no cached resolution of %s to use offline)", err, ref.Name())
	}
	f.logger.Warn("registry unreachable; using the cached resolution of the base tag",
		"ref", ref.Name(), "digest", h.String(), "error", err.Error())
	return h, nil
}

// keepResolution stores the manifest a GET of ref gave and records what
// ref resolved to, and returns the manifest's digest.
func (f *baseFetcher) keepResolution(refs refIndex, ref name.Reference, d *remote.Descriptor) (v1.Hash, error) {
	if err := f.storeVerified(d.Digest, d.Manifest); err != nil {
		return v1.Hash{}, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if err := refs.put(ref.Name(), d.Digest); err != nil {
		return v1.Hash{}, err
	}
	return d.Digest, nil
}

// unreachable reports whether err means the registry could not be talked to
// (as opposed to answering with an error), while ctx is still live.
func unreachable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var te *transport.Error
	return !errors.As(err, &te)
}

// refIndex maps reference strings to the manifest digest they last resolved
// to: one small JSON file per reference, named by the sha256 of the
// reference, written atomically.
type refIndex struct {
	dir string
}

// refEntry is one file of a refIndex.
type refEntry struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
}

// file returns where ref's entry lives.
func (x refIndex) file(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return filepath.Join(x.dir, hex.EncodeToString(sum[:])+".json")
}

// get returns the recorded digest of ref.
func (x refIndex) get(ref string) (v1.Hash, bool) {
	b, err := os.ReadFile(x.file(ref))
	if err != nil {
		return v1.Hash{}, false
	}
	var e refEntry
	if json.Unmarshal(b, &e) != nil || e.Ref != ref {
		return v1.Hash{}, false
	}
	h, err := v1.NewHash(e.Digest)
	return h, err == nil
}

// put records that ref resolved to h.
func (x refIndex) put(ref string, h v1.Hash) error {
	if old, ok := x.get(ref); ok && old == h {
		return nil
	}
	if err := os.MkdirAll(x.dir, 0o755); err != nil {
		return fmt.Errorf("recording %s: %w", ref, err)
	}
	b, err := json.MarshalIndent(refEntry{Ref: ref, Digest: h.String()}, "", "  ")
	if err != nil {
		return err
	}
	err = atomicfile.WriteFile(x.file(ref), 0o644, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("recording %s: %w", ref, err)
	}
	return nil
}
