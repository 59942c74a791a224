package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

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
	p, host := pushRegistry(t)
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
	p, host := pushRegistry(t)
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
	// A push without referrers places no empty config; the repository has
	// one, so PutSharedBlob asks and sends nothing.
	p.ResetLog()
	img2 := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 83, true)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img2}, Tags: tagsOf(t, host+"/nt:v2")}},
		PushOptions{Transport: fastRetries(), BeforeTags: func(ctx context.Context, w *Writer) {
			werr = w.PutSharedBlob(ctx, repo, placedByPush, []byte("{}"))
		}}); err != nil || werr != nil {
		t.Fatal(err, werr)
	}
	if n := p.Count("PUT", `/nt/blobs/uploads/.*digest=`+strings.ReplaceAll(placedByPush.String(), ":", "%3A"), 0); n != 0 {
		t.Errorf("a shared blob the repository had was sent again (%d uploads)", n)
	}
}

// A writer whose push failed before its tags answers ErrPushFailed for
// everything it was still asked, however its requests ended (a cancelled
// wait for a slot included): the caller reports the push, not its
// records.
func TestWriter_ErrorsAfterRefusal(t *testing.T) {
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-") {
			once.Do(func() { close(arrived) })
			<-release
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errors":[{"code":"MANIFEST_INVALID","message":"injected"}]}`)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 601, true)
	repo := tagsOf(t, host+"/wr:v1")[0].Context()
	var mu sync.Mutex
	var errs []error
	add := func(e error) { mu.Lock(); errs = append(errs, e); mu.Unlock() }
	doc := func(s string) ([]byte, v1.Hash) {
		b := []byte(s)
		h, _, _ := v1.SHA256(bytes.NewReader(b))
		return b, h
	}
	before := func(ctx context.Context, w *Writer) {
		<-arrived // the referrers tag PUT holds the one slot
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() { d, h := doc(fmt.Sprintf(`{"q":%d}`, i)); add(w.PutBlob(ctx, repo, h, d)) })
		}
		time.Sleep(50 * time.Millisecond)
		close(release)
		wg.Wait()
		<-ctx.Done()
		d, h := doc(`{"late":1}`)
		add(w.PutBlob(ctx, repo, h, d))
		add(w.PutManifest(ctx, repo.Tag("late"), types.OCIManifestSchema1, []byte(`{}`)))
	}
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/wr:v1"),
		Referrers: []v1.Image{sbomReferrer(t, img, `{}`)}}}, PushOptions{Transport: fastRetries(), Jobs: 1, BeforeTags: before}); err == nil {
		t.Fatal("the push succeeded through a failing referrers tag")
	}
	if len(errs) != 5 {
		t.Fatalf("%d answers, want 5", len(errs))
	}
	// The three waiting for the slot may get it in the moment between the
	// failed request's end and the push settling: a blob sent then is
	// sent. Any other answer, and every later one, is ErrPushFailed.
	for i, e := range errs {
		if !errors.Is(e, ErrPushFailed) && (e != nil || i >= 3) {
			t.Errorf("answer %d of the writer of a refused push: %v, want ErrPushFailed", i, e)
		}
	}
}

// A put that failed is not the answer for good: the next put of the blob
// tries again, and a waiter on a put whose own caller gave up tries
// itself.
func TestWriter_FailedPutTriedAgain(t *testing.T) {
	p, host := pushRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 602, true)
	repo := tagsOf(t, host+"/ds:v1")[0].Context()
	doc, doc2 := []byte(`{"stale":1}`), []byte(`{"stale":2}`)
	h, _, _ := v1.SHA256(bytes.NewReader(doc))
	h2, _, _ := v1.SHA256(bytes.NewReader(doc2))
	esc := func(h v1.Hash) string { return strings.ReplaceAll(h.String(), ":", "%3A") }
	hold := make(chan struct{})
	p.Add(&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile(`/ds/blobs/uploads/.*` + esc(h)), Times: 3, Action: faultproxy.Action{Status: 503}},
		&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile(`/ds/blobs/uploads/.*` + esc(h2)), Times: 1, Action: faultproxy.Action{Wait: hold}})
	var first, second, waiter error
	before := func(ctx context.Context, w *Writer) {
		first = w.PutBlob(ctx, repo, h, doc)  // 3 × 503: fails
		second = w.PutBlob(ctx, repo, h, doc) // the registry is fine now
		octx, cancel := context.WithCancel(ctx)
		ownerDone, waiterDone := make(chan struct{}), make(chan struct{})
		go func() { defer close(ownerDone); w.PutBlob(octx, repo, h2, doc2) }()
		time.Sleep(50 * time.Millisecond)
		go func() { defer close(waiterDone); waiter = w.PutBlob(ctx, repo, h2, doc2) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-ownerDone
		close(hold)
		<-waiterDone
	}
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/ds:v1")}},
		PushOptions{Transport: fastRetries(), BeforeTags: before}); err != nil {
		t.Fatal(err)
	}
	if first == nil {
		t.Fatal("the first put did not fail")
	}
	if second != nil {
		t.Errorf("the same blob, the registry fine again: %v", second)
	}
	if waiter != nil {
		t.Errorf("a waiter whose context is alive: %v", waiter)
	}
}
