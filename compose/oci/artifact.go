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

// Manifests returns the manifest of the image, or of each image an index
// lists directly, in its order.
func (a Artifact) Manifests() ([]*v1.Manifest, error) {
	imgs := []v1.Image{a.Image}
	if a.Index != nil {
		im, err := a.Index.IndexManifest()
		if err != nil {
			return nil, err
		}
		imgs = imgs[:0]
		for _, d := range im.Manifests {
			if !d.MediaType.IsImage() {
				continue
			}
			img, err := a.Index.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
	} else if a.Image == nil {
		return nil, errors.New("oci: empty artifact")
	}
	out := make([]*v1.Manifest, 0, len(imgs))
	for _, img := range imgs {
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
