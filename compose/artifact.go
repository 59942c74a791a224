package compose

import (
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Artifact is a built image or image index; exactly one field is set.
type Artifact struct {
	Image v1.Image
	Index v1.ImageIndex
}

// Digest returns the manifest digest of the image or index.
func (a Artifact) Digest() (v1.Hash, error) {
	switch {
	case a.Index != nil:
		return a.Index.Digest()
	case a.Image != nil:
		return a.Image.Digest()
	}
	return v1.Hash{}, errors.New("compose: empty artifact")
}
