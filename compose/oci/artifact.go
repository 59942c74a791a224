package oci

import (
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifact is a built image or image index; exactly one of Image and
// Index is set.
type Artifact struct {
	Image v1.Image
	Index v1.ImageIndex
	// Platform is, for an Image, its platform when it is known without
	// reading the image's config (a registry cache record names it), or
	// nil. A push reports it instead of fetching the config.
	Platform *v1.Platform
}

// Digest returns the manifest digest of the image or index.
func (a Artifact) Digest() (v1.Hash, error) {
	switch {
	case a.Index != nil:
		return a.Index.Digest()
	case a.Image != nil:
		return a.Image.Digest()
	}
	return v1.Hash{}, errors.New("oci: empty artifact")
}

// IsPlatformImage reports whether d is a runnable image of an index: it has a
// platform, is not an attestation and is an image (or nested index) manifest.
func IsPlatformImage(d v1.Descriptor) bool {
	if d.Platform == nil || d.Platform.OS == "" || d.Platform.OS == "unknown" {
		return false
	}
	if _, ok := d.Annotations["vnd.docker.reference.type"]; ok {
		return false
	}
	switch d.MediaType {
	case types.OCIManifestSchema1, types.DockerManifestSchema2, types.OCIImageIndex, types.DockerManifestList:
		return true
	}
	return false
}

// Images returns the image, or each image manifest an index lists
// directly, in its order.
func (a Artifact) Images() ([]v1.Image, error) {
	if a.Index == nil {
		if a.Image == nil {
			return nil, errors.New("oci: empty artifact")
		}
		return []v1.Image{a.Image}, nil
	}
	im, err := a.Index.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Image
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		img, err := a.Index.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}
