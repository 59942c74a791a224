package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/spec"
)

// imageKeyFormat names the input key's format. It must change whenever a
// change to composing (config, history, annotations, manifests, index)
// would give other digests for the same inputs, so that keys recorded by
// an older strata never name an image this one would not build.
const imageKeyFormat = "strata-image-key/1"

// Keys computes the input key (Result.Key) of every spec without composing
// it: the base is resolved and every layer's inputs are hashed (no tar, no
// compression, nothing stored; an input unchanged since a build with the
// same cache directory is not even read). The results carry Spec, Key and
// the base fields only; they have no Artifact or Digest. Options, budget
// and errors are as for BuildAll. A spec whose key cannot be known gets
// Key "".
func Keys(ctx context.Context, specs []*spec.Spec, names []string, cacheDir string, opts ...Option) ([]*Result, error) {
	return composeAll(ctx, specs, names, cacheDir, true, append(opts, withKeyOnly()))
}

// WithKeyed makes Keys call f with each spec's index and result as soon as
// its input key is known, before Keys returns and from several goroutines
// at once, so that a caller can look keys up while other specs are still
// being hashed. f is not called for a spec that failed. Build, Plan and
// their -All forms ignore it.
func WithKeyed(f func(i int, res *Result)) Option {
	return func(o *options) error {
		o.keyed = f
		return nil
	}
}

// WithKeyIf makes Keys ask f, before it hashes spec i's inputs, whether
// to: when f returns false, spec i gets no key (a nil Result) and is not
// read at all. f is called from several goroutines at once and may block
// (e.g. until the caller knows whether a key could be of use). Build, Plan
// and their -All forms ignore it.
func WithKeyIf(f func(ctx context.Context, i int) bool) Option {
	return func(o *options) error {
		o.keyIf = f
		return nil
	}
}

// withKeyOnly makes composeImage stop after the input key.
func withKeyOnly() Option {
	return func(o *options) error {
		o.keyOnly = true
		return nil
	}
}

// imageKey is the input key of spec s (defaults applied) built on the
// resolved base rb from layers (indexed [platform][layer], as buildLayers
// returns them): a sha256 over the key format, the spec as composed
// (without its context directory, which differs between machines, and
// without its tags, which do not change the image), the created time, the
// archive-as-is switch, the resolved base's digests and every layer's
// content key. "" when a layer's key is unknown.
func imageKey(s *spec.Spec, rb *base.Resolved, layers [][]*layer.Built, o *options) (string, error) {
	c := *s
	c.Context, c.Tags, c.Semver = "", nil, ""
	sj, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("computing input key: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nspec %s\ncreated %d\nas-is %t\nbase %q %s\n", imageKeyFormat, sj, o.created.Unix(), o.archiveAsIs, rb.Name, rb.Digest)
	for i, pb := range rb.Platforms {
		fmt.Fprintf(h, "platform %s base %s\n", pb.Platform, pb.Digest)
		for li, bl := range layers[i] {
			switch {
			case bl == nil:
				return "", nil
			case bl.Key == "" && bl.Layer != nil:
				return "", nil // a layer from an old stat record: key unknown
			}
			fmt.Fprintf(h, "layer %d %q %s\n", li, layer.Name(s, li), bl.Key)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
