package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// SignatureImage is what ReadSignatureImage finds: the manifest a
// reference names and the image stored under the tag derived from its
// digest.
type SignatureImage struct {
	// Digest is the digest of the manifest the reference names (an
	// index's own digest, not a platform's).
	Digest v1.Hash
	// Tag is the tag derived from Digest, in the reference's repository.
	Tag name.Tag
	// Image is the image under Tag; nil when the registry has no such tag.
	// Its layers are read when the caller reads them.
	Image v1.Image
}

// ReadSignatureImage resolves ref to its manifest digest (a digest
// reference needs no request) and reads the image tagged tag(digest) in
// ref's repository, which is where cosign stores an image's signatures
// (sign.SignatureTag). A missing tag is no error: Image is then nil. The
// registry is reached through cfg's access policy.
func ReadSignatureImage(ctx context.Context, ref name.Reference, cfg TransportConfig, tag func(v1.Hash) string) (SignatureImage, error) {
	ropts, err := remoteOptions(ctx, cfg)
	if err != nil {
		return SignatureImage{}, err
	}
	var out SignatureImage
	if dr, ok := ref.(name.Digest); ok {
		if out.Digest, err = v1.NewHash(dr.DigestStr()); err != nil {
			return SignatureImage{}, fmt.Errorf("reading %s: %w", ref.Name(), err)
		}
	} else if out.Digest, err = resolveDigest(ref, ropts); err != nil {
		return SignatureImage{}, fmt.Errorf("reading %s: %w", ref.Name(), err)
	}
	out.Tag = ref.Context().Tag(tag(out.Digest))
	img, err := remote.Image(out.Tag, ropts...)
	var te *transport.Error
	switch {
	case errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
		return out, nil
	case err != nil:
		return SignatureImage{}, fmt.Errorf("reading %s: %w", out.Tag.Name(), err)
	}
	out.Image = img
	return out, nil
}

// resolveDigest asks the registry for the digest of the manifest ref
// names: a HEAD request, or a GET when the registry does not answer HEAD.
func resolveDigest(ref name.Reference, ropts []remote.Option) (v1.Hash, error) {
	if desc, err := remote.Head(ref, ropts...); err == nil {
		return desc.Digest, nil
	}
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return v1.Hash{}, err
	}
	return desc.Digest, nil
}
