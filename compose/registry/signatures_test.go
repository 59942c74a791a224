package registry

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestReadSignatureImage finds the image under the tag derived from the
// digest a tag or digest reference names, and reports none for an image
// without one.
func TestReadSignatureImage(t *testing.T) {
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	sigTag := func(d v1.Hash) string { return d.Algorithm + "-" + d.Hex + ".sig" }
	img, _ := random.Image(64, 1)
	sig, _ := random.Image(32, 1)
	unsigned, _ := random.Image(64, 1)
	d, _ := img.Digest()
	ref, _ := name.ParseReference(host + "/app:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref.Context().Tag(sigTag(d)), sig); err != nil {
		t.Fatal(err)
	}
	sd, _ := sig.Digest()
	for _, r := range []name.Reference{ref, ref.Context().Digest(d.String())} {
		got, err := ReadSignatureImage(context.Background(), r, fastRetries(), sigTag)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		if got.Digest != d || got.Tag.TagStr() != sigTag(d) || got.Image == nil {
			t.Fatalf("%s: %+v", r, got)
		}
		if gd, _ := got.Image.Digest(); gd != sd {
			t.Errorf("%s: signature image %s, want %s", r, gd, sd)
		}
	}

	uref, _ := name.ParseReference(host + "/app:unsigned")
	if err := remote.Write(uref, unsigned); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSignatureImage(context.Background(), uref, fastRetries(), sigTag)
	if err != nil || got.Image != nil {
		t.Errorf("unsigned: %+v, %v; want no image and no error", got, err)
	}
	if _, err := ReadSignatureImage(context.Background(), ref.Context().Tag("missing"), fastRetries(), sigTag); err == nil {
		t.Error("a missing tag: no error")
	}
}
