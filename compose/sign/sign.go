// Package sign signs images and attestations with a cosign key, in the
// formats `cosign verify --key` and `cosign verify-attestation --key` read:
// a simple-signing payload in the image's sha256-HEX.sig tag, and DSSE
// envelopes of in-toto statements in its sha256-HEX.att tag.
//
// Keys are cosign's encrypted ECDSA keys (cosign generate-key-pair). They
// are decrypted with the library cosign itself uses
// (github.com/secure-systems-lab/go-securesystemslib/encrypted), and every
// signature is checked with sigstore's verifier before it is returned.
// DSSE envelopes are made by sigstore's dsse package.
//
// LoadPublicKey and Verifier.VerifyImage check a signature image the way
// cosign verify --key --insecure-ignore-tlog does: one of its payloads must
// name the digest, and its signature must verify with the public key.
//
// Signatures are deterministic (RFC 6979), so signing the same digest again
// gives the same signature, and a repeated push uploads nothing new.
//
// Keyless signing (Fulcio certificates, Rekor entries) needs the public
// Sigstore services and is not offered; verify with --insecure-ignore-tlog.
//
// Errors never contain key material or the password. It imports nothing of
// strata's.
package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
)

// Media types and annotations of cosign's tag-based signature format.
const (
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	MediaTypeDSSE          = "application/vnd.dsse.envelope.v1+json"
	AnnotationSignature    = "dev.cosignproject.cosign/signature"
	AnnotationPredicate    = "predicateType"
	payloadTypeInToto      = "application/vnd.in-toto+json"
)

// PEM block types of cosign private keys.
var keyTypes = []string{"ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"}

// ErrKey is wrapped by every error about the key: unreadable, not a cosign
// key, or a wrong password.
var ErrKey = errors.New("sign: bad key")

// Signer signs with one ECDSA key.
type Signer struct {
	priv     *ecdsa.PrivateKey
	verifier signature.Verifier
}

// LoadKey decrypts a cosign private key (PEM) with password.
func LoadKey(pemBytes, password []byte) (*Signer, error) {
	p, _ := pem.Decode(pemBytes)
	if p == nil {
		return nil, fmt.Errorf("%w: not a PEM file", ErrKey)
	}
	known := false
	for _, t := range keyTypes {
		known = known || p.Type == t
	}
	if !known {
		return nil, fmt.Errorf("%w: a %q PEM block is not a cosign private key", ErrKey, p.Type)
	}
	der, err := encrypted.Decrypt(p.Bytes, password)
	if err != nil {
		// The library's message names neither key nor password.
		return nil, fmt.Errorf("%w: cannot decrypt it (wrong password?)", ErrKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: the decrypted key is not PKCS #8", ErrKey)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T key; strata signs with ECDSA keys", ErrKey, k)
	}
	v, err := signature.LoadECDSAVerifier(&priv.PublicKey, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &Signer{priv: priv, verifier: v}, nil
}

// PublicKey returns the signer's public key.
func (s *Signer) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return &s.priv.PublicKey, nil
}

// SignMessage signs the SHA-256 of message deterministically (RFC 6979)
// and checks the signature with sigstore's verifier. It implements
// sigstore's signature.Signer.
func (s *Signer) SignMessage(message io.Reader, _ ...signature.SignOption) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(msg)
	sig, err := s.priv.Sign(nil, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := s.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
		return nil, fmt.Errorf("sign: the signature does not verify: %w", err)
	}
	return sig, nil
}

var _ signature.Signer = (*Signer)(nil)

// SignatureTag is the tag cosign reads an image's signatures from.
func SignatureTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex + ".sig" }

// AttestationTag is the tag cosign reads an image's attestations from.
func AttestationTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex + ".att" }

// SignImage returns the signature image for the manifest digest d of an
// image in repository repo: push it to repo's SignatureTag(d).
func (s *Signer) SignImage(repo string, d v1.Hash) (v1.Image, error) {
	payload, err := json.Marshal(simpleSigning{
		Critical: critical{
			Identity: identity{DockerReference: repo},
			Image:    imageRef{DockerManifestDigest: d.String()},
			Type:     "cosign container image signature",
		},
	})
	if err != nil {
		return nil, err
	}
	sig, err := s.SignMessage(bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	return artifactImage([]layerDoc{{MediaTypeSimpleSigning, payload, map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}}})
}

// Statement is one in-toto statement to attest.
type Statement struct {
	PredicateType string
	Data          []byte // the statement's JSON
}

// Attest returns the attestation image holding a DSSE envelope for each
// statement: push it to the subject's AttestationTag.
func (s *Signer) Attest(stmts []Statement) (v1.Image, error) {
	w := dsse.WrapSigner(s, payloadTypeInToto)
	var docs []layerDoc
	for _, st := range stmts {
		env, err := w.SignMessage(bytes.NewReader(st.Data))
		if err != nil {
			return nil, err
		}
		docs = append(docs, layerDoc{MediaTypeDSSE, env, map[string]string{AnnotationSignature: "", AnnotationPredicate: st.PredicateType}})
	}
	return artifactImage(docs)
}

// InToto wraps a predicate (e.g. an SBOM document) in an in-toto statement
// about the artifacts in subjects (name → digest).
func InToto(predicateType string, predicate []byte, name string, d v1.Hash) ([]byte, error) {
	return json.Marshal(struct {
		Type          string          `json:"_type"`
		Subject       []any           `json:"subject"`
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}{
		Type:          "https://in-toto.io/Statement/v1",
		Subject:       []any{map[string]any{"name": name, "digest": map[string]string{d.Algorithm: d.Hex}}},
		PredicateType: predicateType,
		Predicate:     json.RawMessage(compact(predicate)),
	})
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

type (
	simpleSigning struct {
		Critical critical `json:"critical"`
		Optional any      `json:"optional"`
	}
	critical struct {
		Identity identity `json:"identity"`
		Image    imageRef `json:"image"`
		Type     string   `json:"type"`
	}
	identity struct {
		DockerReference string `json:"docker-reference"`
	}
	imageRef struct {
		DockerManifestDigest string `json:"docker-manifest-digest"`
	}
	layerDoc struct {
		mediaType   string
		data        []byte
		annotations map[string]string
	}
)

// artifactImage makes the image cosign stores signatures in: an OCI
// manifest with one layer per document, its annotations on the layer.
func artifactImage(docs []layerDoc) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, d := range docs {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(d.data, types.MediaType(d.mediaType)),
			Annotations: d.annotations,
		})
		if err != nil {
			return nil, fmt.Errorf("sign: %w", err)
		}
	}
	return img, nil
}
