package sign_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/strata-build/strata/compose/sign"
)

// cosignKey encrypts a PKCS #8 key the way cosign generate-key-pair does.
func cosignKey(t *testing.T, k any, password string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: enc})
}

func TestLoadKeyErrors(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key := cosignKey(t, priv, "s3cret-pw")
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	for _, c := range []struct {
		name, want string
		pem        []byte
		pw         string
	}{
		{"wrong password", "wrong password", key, "not-it"},
		{"not PEM", "not a PEM file", []byte("hello"), "s3cret-pw"},
		{"other PEM", "not a cosign private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), "s3cret-pw"},
		{"ed25519", "ECDSA", cosignKey(t, edPriv, "s3cret-pw"), "s3cret-pw"},
	} {
		_, err := sign.LoadKey(c.pem, []byte(c.pw))
		if !errors.Is(err, sign.ErrKey) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrKey saying %q", c.name, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), c.pw) || strings.Contains(err.Error(), "s3cret")) {
			t.Errorf("%s: the error shows the password: %v", c.name, err)
		}
	}
}

// TestSignImage: the signature image holds cosign's simple-signing payload
// for the digest, signed so the public key verifies it, and signing again
// gives the same image (RFC 6979).
func TestSignImage(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := sign.LoadKey(cosignKey(t, priv, "pw"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	img, err := s.SignImage("registry.example/app", d)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.SignImage("registry.example/app", d)
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Error("signing twice gave two signature images")
	}
	m, _ := img.Manifest()
	if len(m.Layers) != 1 || m.Layers[0].MediaType != sign.MediaTypeSimpleSigning {
		t.Fatalf("manifest %+v", m)
	}
	ls, _ := img.Layers()
	rc, _ := ls[0].Compressed()
	var payload bytes.Buffer
	payload.ReadFrom(rc)
	if !strings.Contains(payload.String(), `"docker-manifest-digest":"`+d.String()+`"`) {
		t.Errorf("payload %s", payload.String())
	}
	sig, _ := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[sign.AnnotationSignature])
	v, _ := signature.LoadECDSAVerifier(&priv.PublicKey, crypto.SHA256)
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload.Bytes())); err != nil {
		t.Errorf("the signature does not verify: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v2, _ := signature.LoadECDSAVerifier(&other.PublicKey, crypto.SHA256)
	if v2.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload.Bytes())) == nil {
		t.Error("another key verifies the signature")
	}
}
