package registry

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose/oci"
)

// AttachedDocument is a document attached to a manifest as an OCI 1.1
// referrer (an SBOM, a provenance statement), read back.
type AttachedDocument struct {
	// Subject is the digest of the manifest it refers to.
	Subject string `json:"subject"`
	// Platform is the subject's platform in its index ("" for the
	// artifact ref names).
	Platform string `json:"platform,omitempty"`
	// Referrer is the digest of the referrer manifest.
	Referrer     string `json:"referrer"`
	ArtifactType string `json:"artifactType"`
	// Data is the document (the referrer's first blob).
	Data []byte `json:"-"`
}

// maxDocument bounds a document read back.
const maxDocument = 64 << 20

// ReadAttached reads the documents of the given artifact types attached to
// the manifest ref names and, when it is an index, to each of its
// manifests, through the referrers API or the referrers tag schema.
func ReadAttached(ctx context.Context, ref name.Reference, cfg TransportConfig, artifactTypes ...string) ([]AttachedDocument, error) {
	ropts, err := remoteOptions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref.Name(), err)
	}
	type subject struct {
		digest   v1.Hash
		platform string
	}
	subjects := []subject{{digest: desc.Digest}}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", ref.Name(), err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", ref.Name(), err)
		}
		for _, m := range im.Manifests {
			s := subject{digest: m.Digest}
			if m.Platform != nil {
				s.platform = m.Platform.String()
			}
			subjects = append(subjects, s)
		}
	}
	var out []AttachedDocument
	for _, s := range subjects {
		d := ref.Context().Digest(s.digest.String())
		refs, err := remote.Referrers(d, ropts...)
		if err != nil {
			return nil, fmt.Errorf("listing referrers of %s: %w", d.Name(), err)
		}
		im, err := refs.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("listing referrers of %s: %w", d.Name(), err)
		}
		for _, r := range im.Manifests {
			// Some registries list the config's media type instead of
			// the manifest's artifactType (ggcr's registry does): read
			// the manifest when the listed type is the empty one.
			if !slices.Contains(artifactTypes, r.ArtifactType) && r.ArtifactType != oci.MediaTypeEmpty {
				continue
			}
			img, err := remote.Image(ref.Context().Digest(r.Digest.String()), ropts...)
			if err != nil {
				return nil, fmt.Errorf("reading referrer %s: %w", r.Digest, err)
			}
			if m, err := img.Manifest(); err != nil {
				return nil, fmt.Errorf("reading referrer %s: %w", r.Digest, err)
			} else if r.ArtifactType = m.ArtifactType; !slices.Contains(artifactTypes, m.ArtifactType) {
				continue
			}
			ls, err := img.Layers()
			if err != nil || len(ls) == 0 {
				return nil, fmt.Errorf("reading referrer %s: no document (%v)", r.Digest, err)
			}
			rc, err := ls[0].Compressed()
			if err != nil {
				return nil, fmt.Errorf("reading referrer %s: %w", r.Digest, err)
			}
			data, err := io.ReadAll(io.LimitReader(rc, maxDocument))
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("reading referrer %s: %w", r.Digest, err)
			}
			out = append(out, AttachedDocument{Subject: s.digest.String(), Platform: s.platform, Referrer: r.Digest.String(), ArtifactType: r.ArtifactType, Data: data})
		}
	}
	return out, nil
}
