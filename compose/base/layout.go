package base

import (
	"context"
	"fmt"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/spec"
)

// resolveLayout reads a base from an OCI image layout (see oci.ReadLayout
// for how the image is picked) and narrows it to want.
// Every picked image is checked against its names (verifyLocalImage).
func resolveLayout(ctx context.Context, l spec.Location, want []spec.Platform) (*Resolved, error) {
	l = oci.SplitLayoutRef(l)
	a, err := oci.ReadLayout(l)
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", l.Dir, err)
	}
	var plats []PlatformImage
	if a.Index != nil {
		plats, err = narrowIndex(ctx, a.Index, want)
	} else {
		plats, err = narrowImage(a.Image, want)
	}
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", l.Dir, err)
	}
	for _, pi := range plats {
		if err := verifyLocalImage(ctx, pi); err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", l.Dir, err)
		}
	}
	d, err := a.Digest()
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", l.Dir, err)
	}
	return &Resolved{Platforms: plats, Digest: d}, nil
}
