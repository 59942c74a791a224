package sign_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/sign"
)

// keyPair returns a Signer and the PEM public key cosign would write for it
// (cosign.pub).
func keyPair(t *testing.T) (*sign.Signer, []byte) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.LoadKey(cosignKey(t, priv, "pw"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return s, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// signatureLayer returns the payload and base64 signature of the first
// layer of a signature image.
func signatureLayer(t *testing.T, img v1.Image) ([]byte, string) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, m.Layers[0].Annotations[sign.AnnotationSignature]
}

// withLayer returns a signature image of one simple-signing layer.
func withLayer(t *testing.T, payload []byte, sig string) v1.Image {
	t.Helper()
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:       static.NewLayer(payload, sign.MediaTypeSimpleSigning),
		Annotations: map[string]string{sign.AnnotationSignature: sig},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestVerifyImage: what SignImage signs verifies with the signer's public
// key; a tampered payload, a payload for another digest, another key and an
// image without signature layers do not.
func TestVerifyImage(t *testing.T) {
	s, pub := keyPair(t)
	_, otherPub := keyPair(t)
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("cd", 32)}
	img, err := s.SignImage("registry.example/app", d)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyImage(img, d); err != nil {
		t.Fatalf("the signer's own public key: %v", err)
	}
	payload, sig := signatureLayer(t, img)
	if err := v.VerifyPayload(payload, sig, d); err != nil {
		t.Errorf("VerifyPayload: %v", err)
	}

	ov, err := sign.LoadPublicKey(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	if err := ov.VerifyImage(img, d); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("another key: %v, want ErrBadSignature", err)
	}
	if err := v.VerifyImage(img, other); !errors.Is(err, sign.ErrNoSignature) {
		t.Errorf("another digest: %v, want ErrNoSignature", err)
	}

	// The payload changed after signing (one more space, the digest still
	// the same): the signature no longer verifies.
	tampered := []byte(strings.Replace(string(payload), `"critical":`, `"critical": `, 1))
	if string(tampered) == string(payload) {
		t.Fatalf("payload %s was not tampered with", payload)
	}
	if err := v.VerifyImage(withLayer(t, tampered, sig), d); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("tampered payload: %v, want ErrBadSignature", err)
	}
	// A payload moved to another digest with the old signature.
	moved := []byte(strings.Replace(string(payload), d.Hex, other.Hex, 1))
	if err := v.VerifyImage(withLayer(t, moved, sig), other); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("payload moved to another digest: %v, want ErrBadSignature", err)
	}
	if err := v.VerifyImage(withLayer(t, payload, "not base64!"), d); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("garbled signature: %v, want ErrBadSignature", err)
	}
	if err := v.VerifyImage(withLayer(t, payload, base64.StdEncoding.EncodeToString([]byte("x"))), d); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("short signature: %v, want ErrBadSignature", err)
	}
	if err := v.VerifyImage(empty.Image, d); !errors.Is(err, sign.ErrNoSignature) {
		t.Errorf("no layers: %v, want ErrNoSignature", err)
	}
	// A good signature among bad ones is enough.
	two, err := mutate.Append(withLayer(t, tampered, sig), mutate.Addendum{
		Layer:       static.NewLayer(payload, sign.MediaTypeSimpleSigning),
		Annotations: map[string]string{sign.AnnotationSignature: sig},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyImage(two, d); err != nil {
		t.Errorf("one good signature of two: %v", err)
	}
}

func TestLoadPublicKeyErrors(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []struct {
		name string
		pem  []byte
	}{
		{"not PEM", []byte("hello")},
		{"a private key", cosignKey(t, priv, "pw")},
		{"garbage in a PUBLIC KEY block", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})},
	} {
		_, err := sign.LoadPublicKey(c.pem)
		if !errors.Is(err, sign.ErrKey) {
			t.Errorf("%s: %v, want ErrKey", c.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "ENCRYPTED") {
			t.Errorf("%s: the error quotes the private key's PEM type: %v", c.name, err)
		}
	}
}
