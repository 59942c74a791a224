package sign

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// ErrNoSignature is wrapped when a signature image holds no signature of
// the digest asked about.
var ErrNoSignature = errors.New("sign: no signature")

// ErrBadSignature is wrapped when signatures of the digest are there but
// none verifies with the public key.
var ErrBadSignature = errors.New("sign: signature does not verify")

// maxPayload bounds a simple-signing payload read from a signature layer;
// cosign's are a few hundred bytes.
const maxPayload = 1 << 20

// maxSignatureLayers bounds the layers of a signature image looked at.
const maxSignatureLayers = 1000

// Verifier checks cosign signatures with one public key.
type Verifier struct {
	verifier signature.Verifier
}

// LoadPublicKey reads a PEM public key, as cosign generate-key-pair writes
// cosign.pub (ECDSA, and also RSA or Ed25519 keys as cosign accepts them).
// Every error wraps ErrKey.
func LoadPublicKey(pemBytes []byte) (*Verifier, error) {
	if p, _ := pem.Decode(pemBytes); p != nil && strings.HasSuffix(p.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("%w: a private key, not the public key (cosign.pub)", ErrKey)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PEM public key (%v)", ErrKey, err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &Verifier{verifier: v}, nil
}

// VerifyPayload checks that payload is a simple-signing payload naming the
// manifest digest d (critical.image.docker-manifest-digest) and that sig,
// base64 as in the AnnotationSignature annotation, is the key's signature
// of payload. A payload for another digest wraps ErrNoSignature; a
// signature that does not verify wraps ErrBadSignature.
func (v *Verifier) VerifyPayload(payload []byte, sig string, d v1.Hash) error {
	var ss simpleSigning
	if err := json.Unmarshal(payload, &ss); err != nil {
		return fmt.Errorf("%w of %s: the payload is not simple-signing JSON", ErrNoSignature, d)
	}
	if got := ss.Critical.Image.DockerManifestDigest; got != d.String() {
		return fmt.Errorf("%w of %s: the payload names %q", ErrNoSignature, d, got)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: the signature is not base64", ErrBadSignature)
	}
	if err := v.verifier.VerifySignature(bytes.NewReader(raw), bytes.NewReader(payload)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return nil
}

// VerifyImage checks a signature image, as SignImage makes it and cosign
// stores it in SignatureTag(d): at least one of its simple-signing layers
// must name d and carry a signature that verifies with the key. When none
// names d the error wraps ErrNoSignature; when some do but none verifies,
// ErrBadSignature. Other errors are failures to read the image.
func (v *Verifier) VerifyImage(img v1.Image, d v1.Hash) error {
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading the signature image: %w", err)
	}
	if len(m.Layers) > maxSignatureLayers {
		return fmt.Errorf("reading the signature image: %d layers, more than %d", len(m.Layers), maxSignatureLayers)
	}
	named := false
	var last error
	for _, desc := range m.Layers {
		if desc.MediaType != MediaTypeSimpleSigning || desc.Size > maxPayload {
			continue
		}
		payload, err := readLayer(img, desc.Digest)
		if err != nil {
			return fmt.Errorf("reading signature layer %s: %w", desc.Digest, err)
		}
		err = v.VerifyPayload(payload, desc.Annotations[AnnotationSignature], d)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrBadSignature) {
			named, last = true, err
		}
	}
	if named {
		return last
	}
	return fmt.Errorf("%w of %s", ErrNoSignature, d)
}

// readLayer reads the blob d of img, at most maxPayload bytes.
func readLayer(img v1.Image, d v1.Hash) ([]byte, error) {
	l, err := img.LayerByDigest(d)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayload {
		return nil, fmt.Errorf("more than %d bytes", maxPayload)
	}
	return b, nil
}
