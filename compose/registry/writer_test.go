package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

// The Writer BeforeTags gets puts a blob with a POST and one PUT of its
// bytes (no HEAD, no PATCH) and a manifest under a tag, through the push's
// clients; what it wrote reads back as a valid artifact.
func TestWriter(t *testing.T) {
	p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s := httptest.NewServer(p)
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 81, true)
	tag := tagsOf(t, host+"/w/app:v1")[0]
	doc := []byte(`{"record":true}`)
	dh, _, _ := v1.SHA256(strings.NewReader(string(doc)))
	empty := []byte("{}")
	eh, _, _ := v1.SHA256(strings.NewReader("{}"))
	var werr error
	before := func(ctx context.Context, w *Writer) {
		p.ResetLog()
		for _, b := range []struct {
			h v1.Hash
			d []byte
		}{{dh, doc}, {eh, empty}} {
			if err := w.PutBlob(ctx, tag.Context(), b.h, b.d); err != nil {
				werr = err
				return
			}
		}
		raw, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: "application/x-test",
			Config: v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: eh, Size: 2},
			Layers: []v1.Descriptor{{MediaType: "application/x-test", Digest: dh, Size: int64(len(doc))}}})
		werr = w.PutManifest(ctx, tag.Context().Tag("rec"), types.OCIManifestSchema1, raw)
	}
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: []name.Tag{tag}}},
		PushOptions{Transport: fastRetries(), BeforeTags: before}); err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	for _, h := range []v1.Hash{dh, eh} {
		if n := p.Count("HEAD", h.String(), 0); n != 0 {
			t.Errorf("blob %s: %d HEADs, want none", h, n)
		}
		if n := p.Count("PUT", `/blobs/uploads/.*digest=`+strings.ReplaceAll(h.String(), ":", "%3A"), 201); n != 1 {
			t.Errorf("blob %s: %d committing PUTs, want 1:\n%v", h, n, p.Log())
		}
	}
	if n := p.Count("PATCH", ``, 0); n != 0 {
		t.Errorf("%d PATCHes, want none", n)
	}
	got, err := remote.Image(tag.Context().Tag("rec"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("the written artifact does not validate: %v", err)
	}
}

// The Writer sends no blob twice into a repository: not one the push
// placed there itself (here the referrer's empty config), which
// distribution would link again while the push's own manifests are
// checked against it (a push of 20 services failed so), and not one it is
// already sending (two records at once put the same empty config).
func TestWriter_NoBlobTwice(t *testing.T) {
	p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s := httptest.NewServer(p)
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 82, true)
	ref := sbomReferrer(t, img, `{}`)
	refManifest, err := ref.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	placedByPush := refManifest.Config.Digest
	repo := tagsOf(t, host+"/nt:v1")[0].Context()
	doc := []byte(`{"shared":true}`)
	dh, _, _ := v1.SHA256(bytes.NewReader(doc))
	var werr error
	var writes sync.WaitGroup
	before := func(ctx context.Context, w *Writer) {
		if err := w.PutBlob(ctx, repo, placedByPush, []byte("{}")); err != nil {
			werr = err
		}
		for range 4 {
			writes.Go(func() {
				if err := w.PutBlob(ctx, repo, dh, doc); err != nil {
					werr = err
				}
			})
		}
		writes.Wait()
	}
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/nt:v1"), Referrers: []v1.Image{ref}}},
		PushOptions{Transport: fastRetries(), BeforeTags: before}); err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	for h, want := range map[v1.Hash]int{placedByPush: 1, dh: 1} {
		if n := p.Count("PUT", `/nt/blobs/uploads/.*digest=`+strings.ReplaceAll(h.String(), ":", "%3A"), 0); n != want {
			t.Errorf("blob %s: %d uploads, want %d", h, n, want)
		}
	}
}
