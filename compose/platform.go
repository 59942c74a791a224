package compose

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/spec"
)

// wantPlatforms parses the spec's platforms list. An empty list means "the
// base's platforms" (linux/amd64 for scratch) and is returned as nil.
// Duplicates are an error.
func wantPlatforms(s *spec.Spec) ([]spec.Platform, error) {
	if len(s.Platforms) == 0 {
		return nil, nil
	}
	out := make([]spec.Platform, 0, len(s.Platforms))
	seen := map[spec.Platform]bool{}
	for i, str := range s.Platforms {
		p, err := spec.ParsePlatform(str)
		if err != nil {
			return nil, s.Errorf(fmt.Sprintf("platforms[%d]", i), "%v", err)
		}
		if seen[p] {
			return nil, s.Errorf(fmt.Sprintf("platforms[%d]", i), "platform %s is listed twice", p)
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// ErrNoSuchPlatform is matched (errors.Is) by the error of a build asked
// for a platform (WithPlatform) that the spec, or the base when the spec
// lists none, does not have.
var ErrNoSuchPlatform = errors.New("compose: no such platform")

// platformError says which platform was asked for and which there are.
type platformError struct {
	want  spec.Platform
	whose string // "spec" or "base"
	have  []string
}

func (e *platformError) Error() string {
	return fmt.Sprintf("platform %s is not one of the %s's platforms (%s)", e.want, e.whose, strings.Join(e.have, ", "))
}

func (e *platformError) Is(target error) bool { return target == ErrNoSuchPlatform }

// onePlatform narrows s to the platform p when p is one of its platforms
// (the copy lists p alone, as written in s); with no platforms listed s is
// returned as it is and the base is narrowed once resolved (narrowBase).
func onePlatform(s *spec.Spec, want []spec.Platform, p spec.Platform) (*spec.Spec, []spec.Platform, error) {
	if len(want) == 0 {
		return s, nil, nil
	}
	for i, w := range want {
		if w == p {
			c := *s
			c.Platforms = []string{s.Platforms[i]}
			return &c, []spec.Platform{w}, nil
		}
	}
	return nil, nil, &platformError{want: p, whose: "spec", have: s.Platforms}
}

// narrowBase keeps only platform p of a base resolved without a platform
// list.
func narrowBase(rb *base.Resolved, p spec.Platform) error {
	have := make([]string, len(rb.Platforms))
	for i, pb := range rb.Platforms {
		have[i] = pb.Platform.String()
		if pb.Platform == p {
			rb.Platforms = []base.PlatformImage{pb}
			return nil
		}
	}
	return &platformError{want: p, whose: "base", have: have}
}

// buildIndex puts one image per platform into an OCI index, in platform
// order, each descriptor carrying its platform. The index gets the spec's
// annotations and the base name.
func buildIndex(s *spec.Spec, rb *base.Resolved, images []v1.Image) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, len(images))
	for i, img := range images {
		p := rb.Platforms[i].Platform
		adds[i] = mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				MediaType: types.OCIManifestSchema1,
				Platform:  &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
			},
		}
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, adds...)
	if anns := annotations(s, rb.Name, v1.Hash{}); len(anns) > 0 {
		idx = mutate.Annotations(idx, anns).(v1.ImageIndex)
	}
	if _, err := idx.Digest(); err != nil {
		return nil, fmt.Errorf("building index: %w", err)
	}
	return idx, nil
}
