// Package attach makes the supply-chain documents of a built image: an SBOM
// per platform image (package compose/sbom), the provenance statement
// (compose/provenance) and, with a key, cosign-compatible signatures and
// attestations (compose/sign). They are attached as OCI 1.1 referrers of the
// image (a subject), never inside it, so the image digest never changes;
// package compose/registry pushes them and compose/oci lists them in a
// layout.
//
// It imports compose (the Result it describes) and the document packages.
package attach

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/semaphore"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/provenance"
	"github.com/strata-build/strata/compose/sbom"
)

// Options say which supply-chain documents Make makes.
type Options struct {
	// SBOM turns on one SBOM per platform image.
	SBOM bool
	// SBOMFormat is the SBOM's format; the default is SPDX 2.3 JSON.
	SBOMFormat sbom.Format
	// Tool names the generator in the documents, e.g. "strata-v1.2.0".
	Tool string
	// Name is the image's repository as documents should name it
	// (default: the spec's image).
	Name string
	// Memo, shared by the Make calls of one command, holds the inventories
	// of the layers read: the SBOMs of many images on one base read that
	// base once, and with the same memo given to the build (SBOMObserver)
	// no layer the build streamed is read again. nil reads every layer.
	Memo *sbom.Memo
	// Limit bounds how many SBOMs are generated at once, across the Make
	// calls that share it (each takes one unit while it scans and
	// renders). nil generates a result's SBOMs one at a time.
	Limit *semaphore.Weighted

	// Provenance turns on an in-toto SLSA v1 provenance statement attached
	// to the artifact (the image, or the index of a multi-platform build).
	Provenance bool
	// SpecFile is the spec file's path; provenance records its digest.
	SpecFile string
	// Version is strata's version, recorded in the provenance.
	Version string
	// Source is the source repository and revision, when known.
	Source provenance.Source
}

// Document is one document attached to a built image as an OCI 1.1
// referrer.
type Document struct {
	// Kind is "sbom" or "provenance".
	Kind string
	// Platform is the platform of the image it describes ("" for the
	// whole artifact).
	Platform string
	// Subject is the digest of the manifest it refers to.
	Subject v1.Hash
	// MediaType is the document's media type.
	MediaType string
	// Data is the document itself.
	Data []byte
	// Referrer is the artifact manifest to push or write beside the image.
	Referrer v1.Image
}

// Make makes the supply-chain documents of res as referrers whose
// subject is the image they describe (an SBOM per platform image). They are
// never part of the image or its index: res.Digest is the same with and
// without them. The documents are deterministic: building the same inputs
// again gives the same bytes.
func Make(ctx context.Context, res *compose.Result, o Options) ([]Document, error) {
	if res.DryRun {
		return nil, fmt.Errorf("attachments: a planned result has no layers to read")
	}
	if o.Name == "" && res.Spec != nil {
		o.Name = res.Spec.Image
	}
	var out []Document
	if o.Provenance {
		a, err := provenanceOf(res, o)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if !o.SBOM {
		return out, nil
	}
	docs, err := sboms(ctx, res, o)
	if err != nil {
		return nil, err
	}
	return append(out, docs...), nil
}

// platformImage returns the image of pr in res and its descriptor.
func platformImage(res *compose.Result, pr compose.PlatformResult) (v1.Image, v1.Descriptor, error) {
	img := res.Artifact.Image
	if res.Artifact.Index != nil {
		var err error
		if img, err = res.Artifact.Index.Image(pr.Digest); err != nil {
			return nil, v1.Descriptor{}, fmt.Errorf("image %s: %w", pr.Platform, err)
		}
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	size, err := img.Size()
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return img, v1.Descriptor{MediaType: mt, Digest: pr.Digest, Size: size}, nil
}

// Referrers returns the referrer manifests of attachments.
func Referrers(atts []Document) []v1.Image {
	out := make([]v1.Image, len(atts))
	for i, a := range atts {
		out[i] = a.Referrer
	}
	return out
}
