package base

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/spec"
)

// narrowImage checks a single-platform base image against want. An image
// whose config has no os/architecture is accepted for any one wanted
// platform (the build sets the platform in the config).
func narrowImage(img v1.Image, want []spec.Platform) ([]PlatformImage, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	have := spec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if len(want) == 0 {
		if have.OS == "" || have.Architecture == "" {
			return nil, fmt.Errorf("image %s has no os/architecture in its config; set platforms in the spec", d)
		}
		return []PlatformImage{{Platform: have, Image: img, Digest: d}}, nil
	}
	var out []PlatformImage
	for _, w := range want {
		if have.OS != "" && !platformMatches(w, &v1.Platform{OS: have.OS, Architecture: have.Architecture, Variant: have.Variant}) {
			return nil, fmt.Errorf("platform %s not available: the base is a single-platform image for %s", w, have)
		}
		out = append(out, PlatformImage{Platform: w, Image: img, Digest: d})
	}
	return out, nil
}

// narrowIndex picks the child image of idx for each wanted platform, or every
// runnable child (in index order) when want is empty. Attestation manifests
// (platform unknown/unknown) are never picked.
func narrowIndex(ctx context.Context, idx v1.ImageIndex, want []spec.Platform) ([]PlatformImage, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	var children []v1.Descriptor
	for _, d := range im.Manifests {
		if oci.IsPlatformImage(d) {
			children = append(children, d)
		}
	}
	var picked []v1.Descriptor
	var plats []spec.Platform
	if len(want) == 0 {
		if len(children) == 0 {
			return nil, fmt.Errorf("index has no platform images")
		}
		for _, d := range children {
			picked = append(picked, d)
			plats = append(plats, spec.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant})
		}
	} else {
		for _, w := range want {
			d, err := pickPlatform(children, w)
			if err != nil {
				return nil, err
			}
			picked = append(picked, d)
			plats = append(plats, w)
		}
	}
	out := make([]PlatformImage, 0, len(picked))
	for i, d := range picked {
		if d.MediaType.IsIndex() {
			return nil, fmt.Errorf("platform %s: nested image indexes are not supported", plats[i])
		}
		img, err := childImage(ctx, idx, d.Digest)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", plats[i], err)
		}
		out = append(out, PlatformImage{Platform: plats[i], Image: img, Digest: d.Digest})
	}
	return out, nil
}

// childImage returns the child image h of idx, fetching a registry base's
// child under ctx.
func childImage(ctx context.Context, idx v1.ImageIndex, h v1.Hash) (v1.Image, error) {
	if ci, ok := idx.(interface {
		ImageContext(context.Context, v1.Hash) (v1.Image, error)
	}); ok {
		return ci.ImageContext(ctx, h)
	}
	return idx.Image(h)
}

// pickPlatform finds the child for w. A wanted platform without a variant
// matches a child with any variant, if only one does; linux/arm64 and
// linux/arm64/v8 are the same platform.
func pickPlatform(children []v1.Descriptor, w spec.Platform) (v1.Descriptor, error) {
	var matches []v1.Descriptor
	for _, d := range children {
		if platformMatches(w, d.Platform) {
			if d.Platform.Variant == w.Variant {
				return d, nil // exact match wins
			}
			matches = append(matches, d)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return v1.Descriptor{}, fmt.Errorf("platform %s not available: the base has %s", w, platformList(children))
	}
	return v1.Descriptor{}, fmt.Errorf("platform %s is ambiguous: the base has %s; name the variant", w, platformList(matches))
}

// platformMatches reports whether have can serve w.
func platformMatches(w spec.Platform, have *v1.Platform) bool {
	if have == nil || have.OS != w.OS || have.Architecture != w.Architecture {
		return false
	}
	if w.Variant == "" || have.Variant == w.Variant {
		return true
	}
	return w.Architecture == "arm64" && w.Variant == "v8" && have.Variant == ""
}

// platformList formats the platforms of ds as "linux/amd64, linux/arm64".
func platformList(ds []v1.Descriptor) string {
	if len(ds) == 0 {
		return "no platform images"
	}
	s := make([]string, 0, len(ds))
	for _, d := range ds {
		p := spec.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}
