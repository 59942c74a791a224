package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

func sbomReferrer(t *testing.T, img v1.Image, doc string) v1.Image {
	t.Helper()
	d, _ := img.Digest()
	mt, _ := img.MediaType()
	size, _ := img.Size()
	r, err := oci.NewReferrer(v1.Descriptor{MediaType: mt, Digest: d, Size: size}, "application/spdx+json",
		[]oci.Document{{MediaType: "application/spdx+json", Data: []byte(doc)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPush_Referrers pushes an image with a referrer to ggcr's registry
// with and without the referrers API. With it, no referrers tag is written
// and the API lists the referrer; without it, the sha256-HEX tag lists it.
// Either way ggcr's client (as cosign and oras do) finds it, ReadAttached
// reads the document back, and a repeated push writes no manifest.
func TestPush_Referrers(t *testing.T) {
	for _, api := range []bool{true, false} {
		p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(api)))
		s := httptest.NewServer(p)
		host := strings.TrimPrefix(s.URL, "http://")
		img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 41, true)
		ref := sbomReferrer(t, img, `{"spdxVersion":"SPDX-2.3"}`)
		req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/app:v1"), Referrers: []v1.Image{ref}}
		rep, err := Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries()})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		rd, _ := ref.Digest()
		if len(rep.Artifacts[0].Referrers) != 1 || rep.Artifacts[0].Referrers[0] != rd.String() {
			t.Errorf("api=%v: report referrers %v, want %s", api, rep.Artifacts[0].Referrers, rd)
		}
		repo := tagsOf(t, host+"/app:v1")[0].Context()
		tags, err := remote.List(repo)
		if err != nil {
			t.Fatal(err)
		}
		hasTag := strings.Contains(strings.Join(tags, " "), ReferrersTag(d))
		if hasTag == api {
			t.Errorf("api=%v: tags %v: the referrers tag should be written only without the API", api, tags)
		}
		idx, err := remote.Referrers(repo.Digest(d.String()))
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		// (ggcr's registry lists the config's media type as the artifact
		// type; the tag schema keeps the manifest's artifactType.)
		if len(im.Manifests) != 1 || im.Manifests[0].Digest != rd || (!api && im.Manifests[0].ArtifactType != "application/spdx+json") {
			t.Errorf("api=%v: referrers %+v", api, im.Manifests)
		}
		docs, err := ReadAttached(context.Background(), tagsOf(t, host+"/app:v1")[0], fastRetries(), "application/spdx+json")
		if err != nil || len(docs) != 1 || string(docs[0].Data) != `{"spdxVersion":"SPDX-2.3"}` || docs[0].Subject != d.String() {
			t.Errorf("api=%v: ReadAttached %+v, %v", api, docs, err)
		}
		// Again: nothing is written.
		p.ResetLog()
		if _, err := Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries()}); err != nil {
			t.Fatal(err)
		}
		if n := p.Count(http.MethodPut, "/manifests/", 0) + p.Count(http.MethodPatch, "", 0) + p.Count(http.MethodPost, "", 0); n != 0 {
			t.Errorf("api=%v: a repeated push wrote %d times", api, n)
		}
		p.Close()
		s.Close()
	}
}

// The referrers API is the registry's: a push of images with referrers to
// several repositories of one registry asks for it once, and every
// referrer is still findable.
func TestPush_ReferrersProbeOncePerRegistry(t *testing.T) {
	for _, api := range []bool{true, false} {
		p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(api)))
		s := httptest.NewServer(p)
		host := strings.TrimPrefix(s.URL, "http://")
		var reqs []PushRequest
		for i, repo := range []string{"one", "two", "three"} {
			img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), int64(50+i), true)
			reqs = append(reqs, PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/"+repo+":v1"),
				Referrers: []v1.Image{sbomReferrer(t, img, `{"n":"`+repo+`"}`)}})
		}
		if _, err := Push(context.Background(), reqs, PushOptions{Transport: fastRetries()}); err != nil {
			t.Fatal(err)
		}
		if n := p.Count(http.MethodGet, "/referrers/", 0); n != 1 {
			t.Errorf("api=%v: %d referrers probes, want 1", api, n)
		}
		for _, repo := range []string{"one", "two", "three"} {
			docs, err := ReadAttached(context.Background(), tagsOf(t, host+"/"+repo+":v1")[0], fastRetries(), "application/spdx+json")
			if err != nil || len(docs) != 1 || string(docs[0].Data) != `{"n":"`+repo+`"}` {
				t.Errorf("api=%v: %s: ReadAttached %+v, %v", api, repo, docs, err)
			}
		}
		p.Close()
		s.Close()
	}
}

// In a repository the caller knows is new, blobs and manifests are pushed
// without a HEAD first (only tags are asked for, for the report), and the
// result is the same image, findable with its referrer. A second push, to what now exists,
// asks again and uploads nothing.
func TestPush_NewRepositoryAsksNothingFirst(t *testing.T) {
	p, host := pushRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 61, true)
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/fresh:v1"),
		Referrers: []v1.Image{sbomReferrer(t, img, `{"new":true}`)}}
	rep, err := Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries(), New: []string{host + "/fresh"}})
	if err != nil {
		t.Fatal(err)
	}
	// One HEAD, of its largest blob, confirms the repository holds none of
	// them; nothing else is asked.
	if n := p.Count(http.MethodHead, "/blobs/|/manifests/sha256:", 0); n != 1 {
		t.Errorf("%d HEADs of blobs or manifests in a new repository, want 1:\n%v", n, p.Log())
	}
	if n := p.Count(http.MethodHead, "/manifests/v1$", 0); n != 1 {
		t.Errorf("%d HEADs of the tag, want 1", n)
	}
	// The referrers tag is still read first (another push of the subject
	// may have written it meanwhile).
	if n := p.Count(http.MethodGet, "/manifests/sha256-", 0); n != 1 {
		t.Errorf("the referrers tag was read %d times, want once", n)
	}
	if rep.BlobsSkipped != 0 || rep.BlobsUploaded == 0 || rep.Artifacts[0].Tags[0].Status != TagCreated {
		t.Errorf("report: %d uploaded, %d skipped, tag %s", rep.BlobsUploaded, rep.BlobsSkipped, rep.Artifacts[0].Tags[0].Status)
	}
	d, _ := img.Digest()
	got, err := remote.Image(tagsOf(t, host+"/fresh:v1")[0])
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd != d {
		t.Errorf("pushed %s, want %s", gd, d)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate: %v", err)
	}
	docs, err := ReadAttached(context.Background(), tagsOf(t, host+"/fresh:v1")[0], fastRetries(), "application/spdx+json")
	if err != nil || len(docs) != 1 || string(docs[0].Data) != `{"new":true}` {
		t.Errorf("ReadAttached %+v, %v", docs, err)
	}
	// Pushed again without New: everything is asked for and found.
	p.ResetLog()
	rep, err = Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsUploaded != 0 || rep.BlobsSkipped == 0 || p.Count(http.MethodHead, "/blobs/", 0) == 0 {
		t.Errorf("second push: %d uploaded, %d skipped, %d blob HEADs", rep.BlobsUploaded, rep.BlobsSkipped, p.Count(http.MethodHead, "/blobs/", 0))
	}
}

// BeforeTags runs once the image is in place, while the referrers and the
// tags are pushed, and Push returns after it: its writer's blobs go up at
// once, its manifests only once the referrers are in place; a push that
// fails at its referrers lets none through (ErrPushFailed); one that fails
// earlier does not call it.
func TestPush_BeforeTags(t *testing.T) {
	p, host := pushRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 71, true)
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/bt:v1"), Referrers: []v1.Image{sbomReferrer(t, img, `{}`)}}
	d, _ := img.Digest()
	repo := tagsOf(t, host+"/bt:v1")[0].Context()
	doc := []byte(`{"n":1}`)
	dh, _, _ := v1.SHA256(bytes.NewReader(doc))
	manifest := func() []byte {
		raw, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
			Config: v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: dh, Size: int64(len(doc))},
			Layers: []v1.Descriptor{{MediaType: "application/x-test", Digest: dh, Size: int64(len(doc))}}})
		return raw
	}
	// The referrers tag and the tag PUT wait until BeforeTags has started
	// (called after them, the push would never end), the referrers tag
	// 100 ms more: a manifest the writer let through before the referrers
	// were in place would arrive first.
	started, late := make(chan struct{}), make(chan struct{})
	go func() {
		<-started
		time.Sleep(100 * time.Millisecond)
		close(late)
	}()
	p.Add(&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile("/manifests/v1$"), Action: faultproxy.Action{Wait: started}},
		&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile("/manifests/sha256-"), Action: faultproxy.Action{Wait: late}})
	var sawImage, blobEarly, referrerFirst, returned atomic.Bool
	before := func(ctx context.Context, w *Writer) {
		_, err := remote.Head(repo.Digest(d.String()))
		sawImage.Store(err == nil)
		blobEarly.Store(w.PutBlob(ctx, repo, dh, doc) == nil)
		close(started)
		if err := w.PutManifest(ctx, repo.Tag("rec"), types.OCIManifestSchema1, manifest()); err != nil {
			t.Errorf("PutManifest: %v", err)
		}
		docs, err := ReadAttached(ctx, repo.Digest(d.String()), fastRetries(), "application/spdx+json")
		referrerFirst.Store(err == nil && len(docs) == 1)
		time.Sleep(50 * time.Millisecond) // longer than the tag push
		returned.Store(true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Push(ctx, []PushRequest{req}, PushOptions{Transport: fastRetries(), BeforeTags: before}); err != nil {
		t.Fatal(err)
	}
	if !sawImage.Load() || !blobEarly.Load() || !referrerFirst.Load() || !returned.Load() {
		t.Errorf("BeforeTags: image there %v, blob put before the referrers %v, referrer there before its manifest %v, returned before Push %v",
			sawImage.Load(), blobEarly.Load(), referrerFirst.Load(), returned.Load())
	}
	if _, err := remote.Head(repo.Tag("rec")); err != nil {
		t.Errorf("the writer's manifest is not there: %v", err)
	}
	var refTagEnd, recStart time.Time
	for _, e := range p.Log() {
		switch {
		case e.Method == "PUT" && strings.Contains(e.Path, "/manifests/sha256-"):
			refTagEnd = e.End
		case e.Method == "PUT" && strings.HasSuffix(e.Path, "/manifests/rec"):
			recStart = e.Time
		}
	}
	if refTagEnd.IsZero() || recStart.IsZero() || recStart.Before(refTagEnd) {
		t.Errorf("the writer's manifest went at %v, the referrers tag was in place at %v", recStart, refTagEnd)
	}
	// A push that fails at its referrers: called, but nothing is let through.
	p.Clear()
	p.Add(&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile("/manifests/sha256-"), Action: faultproxy.Action{Status: 400, Code: "MANIFEST_INVALID"}})
	img3 := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 73, true)
	var putErr error
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img3}, Tags: tagsOf(t, host+"/bt:v3"), Referrers: []v1.Image{sbomReferrer(t, img3, `{}`)}}},
		PushOptions{Transport: fastRetries(), BeforeTags: func(ctx context.Context, w *Writer) {
			putErr = w.PutManifest(ctx, repo.Tag("rec3"), types.OCIManifestSchema1, manifest())
		}}); err == nil {
		t.Fatal("a push whose referrers tag fails succeeded")
	}
	if !errors.Is(putErr, ErrPushFailed) {
		t.Errorf("PutManifest after a failed push: %v, want ErrPushFailed", putErr)
	}
	if _, err := remote.Head(repo.Tag("rec3")); err == nil {
		t.Error("a failed push let a manifest through")
	}
	// A failing manifest PUT: not called.
	p.Clear()
	p.Add(&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile("/manifests/sha256:"), Action: faultproxy.Action{Status: 400, Code: "MANIFEST_INVALID"}})
	called := false
	img2 := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 72, true)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img2}, Tags: tagsOf(t, host+"/bt:v2")}},
		PushOptions{Transport: fastRetries(), BeforeTags: func(context.Context, *Writer) { called = true }}); err == nil {
		t.Fatal("a push whose manifest fails succeeded")
	}
	if called {
		t.Error("BeforeTags was called for a push that failed before its images were in place")
	}
}

// On a registry with the referrers API, the referrers tag read beside the
// probe (while its answer is unknown) is not needed: its failure, landing
// after the probe's answer, does not fail the push (it did, through a
// shared error variable; run with -race too).
func TestPush_ReferrersTagReadNotNeededWithAPI(t *testing.T) {
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
	probed := make(chan struct{})
	var once sync.Once
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/referrers/"):
			inner.ServeHTTP(w, r)
			once.Do(func() { close(probed) })
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256-"):
			<-probed
			time.Sleep(50 * time.Millisecond) // after the probe's answer
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errors":[{"code":"TAG_INVALID","message":"no such tag here"}]}`)
		default:
			inner.ServeHTTP(w, r)
		}
	}))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 94, true)
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/api/app:v1"), Referrers: []v1.Image{sbomReferrer(t, img, `{}`)}}
	if _, err := Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatalf("push to a registry with the referrers API failed on a read it did not need: %v", err)
	}
}
