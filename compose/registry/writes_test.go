package registry

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/internal/testregistry"
)

// What a push writes stays on the registry: a blob PUT carrying bytes (a
// small blob's one request) or a manifest PUT answered with a 307 to
// another host is not sent there, and the push fails. The other host
// stands for a public one (PrivateRedirectHosts lifts only the SSRF guard
// on dialling it).
func TestPush_WritesNotRedirectedOffRegistry(t *testing.T) {
	for _, what := range []string{"/blobs/uploads/", "/manifests/"} {
		var stolen atomic.Int64
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			stolen.Add(n + 1)
			w.WriteHeader(http.StatusCreated)
		}))
		otherHost := "localhost:" + strings.TrimPrefix(other.URL, "http://127.0.0.1:")
		inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, what) {
				http.Redirect(w, r, "http://"+otherHost+"/collect?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
				return
			}
			inner.ServeHTTP(w, r)
		}))
		cfg := fastRetries()
		cfg.PrivateRedirectHosts = []string{otherHost}
		_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)},
			Tags: tagsOf(t, strings.TrimPrefix(s.URL, "http://")+"/redir/app:v1")}}, PushOptions{Transport: cfg, Jobs: 1})
		if err == nil {
			t.Errorf("%s: the push succeeded through a redirect off the registry", what)
		}
		if n := stolen.Load(); n > 0 {
			t.Errorf("%s: %d requests or bytes reached %s, off the registry", what, n, otherHost)
		}
		s.Close()
		other.Close()
	}
}

// A small blob's PUT that the registry committed but whose answer was lost
// (a proxy answers 502) is not sent again to its spent upload: the push
// starts a fresh upload (or finds the blob there) and succeeds.
func TestDistribution_SmallBlobCommitAnswerLost(t *testing.T) {
	r := testregistry.Start(t, launchProgram)
	u, _ := url.Parse("http://" + r.Host)
	rp := httputil.NewSingleHostReverseProxy(u)
	var fired atomic.Bool
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/blobs/uploads/") && req.ContentLength > 0 && fired.CompareAndSwap(false, true) {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, req) // the registry commits the blob...
			if rec.Code != http.StatusCreated {
				t.Errorf("the first PUT got %d from the registry, want 201", rec.Code)
			}
			w.WriteHeader(http.StatusBadGateway) // ...and the client is told 502
			return
		}
		rp.ServeHTTP(w, req)
	}))
	defer s.Close()
	img := fixture.LinuxImage(t, 1) // every blob is under monolithicMax
	ref := strings.TrimPrefix(s.URL, "http://") + "/mono/app:v1"
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, ref)}},
		PushOptions{Transport: fastRetries(), Jobs: 1}); err != nil {
		t.Fatalf("one lost answer to a committed small blob failed the push: %v", err)
	}
	if !fired.Load() {
		t.Fatal("no small blob was uploaded")
	}
	d, _ := img.Digest()
	if got := fixture.ValidateRemote(t, ref); got != d {
		t.Errorf("pushed %s, want %s", got, d)
	}
}

// In a repository that exists, each manifest's HEAD goes out while the
// blobs are pushed (the uploads are held here until it has): the
// manifests step waits on answers, not on new requests. A manifest the
// repository has is still not written again.
func TestPush_ManifestChecksBesideBlobs(t *testing.T) {
	p, host := pushRegistry(t)
	old := fixture.LinuxImage(t, 1)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: old}, Tags: tagsOf(t, host+"/early:v0")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	p.ResetLog()
	hold := make(chan struct{})
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/early/blobs/uploads/`), Action: faultproxy.Action{Wait: hold}})
	var beside atomic.Bool
	go func() {
		defer close(hold)
		beside.Store(until(func() bool { return p.Count("HEAD", `/early/manifests/sha256:`, 0) > 0 }))
	}()
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 95, true)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/early:v1")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	if !beside.Load() {
		t.Error("the manifest's HEAD waited for the blobs")
	}
	if n := p.Count("HEAD", `/early/manifests/sha256:`, 0); n != 1 {
		t.Errorf("%d manifest HEADs, want 1", n)
	}
	p.Clear()
	p.ResetLog()
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/early:v1")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	if n := p.Count("PUT", `/manifests/`, 0); n != 0 {
		t.Errorf("a repeated push wrote %d manifests", n)
	}
}

// A push that fails before its images are in place reads no tag (a GET of
// a tag's manifest counts as a pull on some registries), and one whose
// early HEAD of a manifest fails while the blobs go up asks again at the
// manifests step.
func TestPush_EarlyReadsFailSafe(t *testing.T) {
	p, host := pushRegistry(t)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/fs:v1")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	p.ResetLog()
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/fs/manifests/sha256:`), Action: faultproxy.Action{Status: 400, Code: "MANIFEST_INVALID"}})
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 199, true)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/fs:v1")}}, PushOptions{Transport: fastRetries()}); err == nil {
		t.Fatal("the push succeeded through a failing manifest PUT")
	}
	if n := p.Count("", `/fs/manifests/v1$`, 0); n != 0 {
		t.Errorf("a push that failed at its manifests read the tag %d times", n)
	}
	// The early HEAD fails (503, retries spent) while the blobs are held.
	p.Clear()
	hold := make(chan struct{})
	p.Add(&faultproxy.Rule{Method: "HEAD", Path: faultproxy.PathRe(`/fs/manifests/sha256:`), Action: faultproxy.Action{Status: 503}},
		&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/fs/blobs/uploads/`), Action: faultproxy.Action{Wait: hold}})
	go func() {
		defer close(hold)
		if until(func() bool { return p.Count("HEAD", `/fs/manifests/sha256:`, 503) >= 3 }) {
			p.Clear() // the outage ends with the blobs
		}
	}()
	img2 := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 198, true)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img2}, Tags: tagsOf(t, host+"/fs:v2")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Errorf("a push failed on an outage that ended before its manifests step: %v", err)
	}
}

// Jobs bounds the requests a push sends at once, its early reads and its
// writer's included: with Jobs 1 the registry never sees two.
func TestPush_JobsBoundsRequests(t *testing.T) {
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var inflight, peak atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
		}
		defer inflight.Add(-1)
		time.Sleep(2 * time.Millisecond) // long enough to overlap anything sent beside
		inner.ServeHTTP(w, r)
	}))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	push := func(img v1.Image, tag string, before func(context.Context, *Writer)) {
		t.Helper()
		if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/jb:"+tag),
			Referrers: []v1.Image{sbomReferrer(t, img, `{}`)}}}, PushOptions{Transport: fastRetries(), Jobs: 1, BeforeTags: before}); err != nil {
			t.Fatal(err)
		}
	}
	push(fixture.LinuxImage(t, 1), "v0", nil) // the repository exists: the early reads happen
	peak.Store(0)
	doc := []byte(`{"jobs":1}`)
	dh, _, _ := v1.SHA256(bytes.NewReader(doc))
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 198, true)
	push(img, "v0", func(ctx context.Context, w *Writer) {
		if err := w.PutBlob(ctx, tagsOf(t, host+"/jb:x")[0].Context(), dh, doc); err != nil {
			t.Error(err)
		}
	})
	if n := peak.Load(); n != 1 {
		t.Errorf("Jobs 1: the registry saw %d requests at once", n)
	}
}
