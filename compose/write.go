package compose

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/oci"
)

// Outputs names where WriteOutputs writes a built image. Empty fields are
// skipped.
type Outputs struct {
	// LayoutDir is an OCI image layout directory; the image is recorded in
	// its index.json once under each of LayoutRefs
	// (org.opencontainers.image.ref.name), "latest" when there are none.
	LayoutDir  string
	LayoutRefs []string
	// TarballPath is a docker-save tarball (docker load) tagged TarballRefs.
	TarballPath string
	TarballRefs []name.Tag
	// Jobs is how many blobs are written at once; 0 means 4.
	Jobs int
	// Referrers are written into the layout beside the image (SBOMs,
	// provenance, signatures; see Attachments). A tarball has no place
	// for them.
	Referrers []v1.Image
}

// Unchanged reports whether writing res to outs would change nothing an
// image is known by: outs has a layout, and it already records res's
// digest under every one of outs.LayoutRefs. (A tarball is always written
// anew and does not count.) A rebuild of unchanged inputs gives the same
// digest, so a multi-spec build can say which images actually changed.
func Unchanged(res *Result, outs Outputs) (bool, error) {
	if res == nil || outs.LayoutDir == "" {
		return false, nil
	}
	refs := outs.LayoutRefs
	if len(refs) == 0 {
		refs = []string{"latest"}
	}
	for _, ref := range refs {
		d, err := oci.LayoutRefDigest(outs.LayoutDir, ref)
		if err != nil {
			return false, fmt.Errorf("reading OCI layout %s: %w", outs.LayoutDir, err)
		}
		if d != res.Digest {
			return false, nil
		}
	}
	return true, nil
}

// WriteOutputs writes a successful build's artifact to every output in outs.
// Call it only once Build has returned without error, so a failed build
// leaves every output untouched. Each output is written atomically (a
// temporary file or directory renamed into place).
func WriteOutputs(ctx context.Context, res *Result, outs Outputs) error {
	if res == nil || (res.Artifact.Image == nil && res.Artifact.Index == nil) {
		return errors.New("compose: nothing to write")
	}
	if res.DryRun {
		return errors.New("compose: a plan has no layer content to write; use Build")
	}
	// Check every output can take the artifact before writing any.
	if outs.TarballPath != "" && len(res.Platforms) > 1 {
		plats := make([]string, len(res.Platforms))
		for i, p := range res.Platforms {
			plats[i] = p.Platform.String()
		}
		return fmt.Errorf("writing tarball %s: a docker tarball holds one platform, the image has %d (%s); write an OCI layout instead or build one platform",
			outs.TarballPath, len(plats), strings.Join(plats, ", "))
	}
	wo := oci.WriteOptions{Jobs: outs.Jobs}
	if outs.LayoutDir != "" {
		wo := wo
		wo.Referrers = outs.Referrers
		refs := outs.LayoutRefs
		if len(refs) == 0 {
			refs = []string{"latest"}
		}
		if err := oci.WriteLayout(ctx, outs.LayoutDir, res.Artifact, refs, wo); err != nil {
			return fmt.Errorf("writing OCI layout %s: %w", outs.LayoutDir, err)
		}
	}
	if outs.TarballPath != "" {
		if err := oci.WriteTarball(ctx, outs.TarballPath, res.Artifact, outs.TarballRefs, wo); err != nil {
			return fmt.Errorf("writing tarball %s: %w", outs.TarballPath, err)
		}
	}
	return nil
}
