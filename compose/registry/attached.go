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
	atts, err := attached(ref, ropts, artifactTypes)
	if err != nil {
		return nil, err
	}
	var out []AttachedDocument
	for _, a := range atts {
		ls, err := a.img.Layers()
		if err != nil || len(ls) == 0 {
			return nil, fmt.Errorf("reading referrer %s: no document (%v)", a.doc.Referrer, err)
		}
		rc, err := ls[0].Compressed()
		if err != nil {
			return nil, fmt.Errorf("reading referrer %s: %w", a.doc.Referrer, err)
		}
		a.doc.Data, err = io.ReadAll(io.LimitReader(rc, maxDocument))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading referrer %s: %w", a.doc.Referrer, err)
		}
		out = append(out, a.doc)
	}
	return out, nil
}

// AttachedImages returns the referrer manifests of the given artifact
// types attached to the manifest ref names and, when it is an index, to
// each of its manifests, as images (read lazily from ref's repository):
// pushing them with an artifact copies its documents.
func AttachedImages(ctx context.Context, ref name.Reference, cfg TransportConfig, artifactTypes ...string) ([]v1.Image, error) {
	ropts, err := remoteOptions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	atts, err := attached(ref, ropts, artifactTypes)
	if err != nil {
		return nil, err
	}
	out := make([]v1.Image, len(atts))
	for i, a := range atts {
		out[i] = a.img
	}
	return out, nil
}

// attachedRef is one referrer found by attached.
type attachedRef struct {
	doc AttachedDocument // without Data
	img v1.Image
}

// attached lists the referrers of the given artifact types of ref and, for
// an index, of each of its manifests.
func attached(ref name.Reference, ropts []remote.Option, artifactTypes []string) ([]attachedRef, error) {
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
	var out []attachedRef
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
			out = append(out, attachedRef{doc: AttachedDocument{Subject: s.digest.String(), Platform: s.platform, Referrer: r.Digest.String(), ArtifactType: r.ArtifactType}, img: img})
		}
	}
	return out, nil
}
