package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

// steps are the push requests a fault can hit.
var steps = []struct {
	name, method, path string
}{
	{"HEAD blob", "HEAD", `/blobs/sha256:`},
	{"POST upload", "POST", `/blobs/uploads/`},
	{"PATCH upload", "PATCH", `/blobs/uploads/`},
	{"PUT blob", "PUT", `/blobs/uploads/`},
	{"PUT manifest", "PUT", `/manifests/sha256:`},
	{"PUT tag", "PUT", `/manifests/v1$`},
}

// cleanCounts is how many requests each step takes for stepImage pushed to
// one tag: 3 blobs (the 2 layers sent with a PATCH each, the config with
// its PUT alone), 1 manifest, 1 tag.
var cleanCounts = map[string]int{"HEAD blob": 3, "POST upload": 3, "PATCH upload": 2, "PUT blob": 3, "PUT manifest": 1, "PUT tag": 1}

// stepImage is an image with two layers over monolithicMax, so that a push
// takes every step of both kinds of upload.
func stepImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(monolithicMax+1<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// uploads counts the blob uploads the registry was sent: each ends with
// one PUT, with the bytes when they were not PATCHed.
func uploads(p *faultproxy.Proxy) int { return p.Count("PUT", `/blobs/uploads/`, 0) }

// TestFault_5xxEachStep: one 5xx on each step still ends in a valid image,
// with at most 3 attempts of any step.
func TestFault_5xxEachStep(t *testing.T) {
	for _, st := range steps {
		for _, code := range []int{500, 502, 503, 504} {
			t.Run(fmt.Sprintf("%s/%d", st.name, code), func(t *testing.T) {
				p, host := pushRegistry(t)
				p.Add(&faultproxy.Rule{Method: st.method, Path: faultproxy.PathRe(st.path), Nth: 1, Action: faultproxy.Action{Status: code}})
				img := stepImage(t)
				_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/app:v1")}}, PushOptions{Transport: fastRetries()})
				if err != nil {
					t.Fatal(err)
				}
				d, _ := img.Digest()
				if got := fixture.ValidateRemote(t, host+"/f/app:v1"); got != d {
					t.Fatalf("digest %s, want %s", got, d)
				}
				if n := p.Count(st.method, st.path, code); n != 1 {
					t.Fatalf("fault fired %d times", n)
				}
				// Exactly one retry of the faulted step.
				if n, want := p.Count(st.method, st.path, 0), cleanCounts[st.name]+1; n != want {
					t.Errorf("%s: %d requests, want %d", st.name, n, want)
				}
			})
		}
	}
}

// TestFault_ResetMidPatch: a connection reset after 1 KiB of the first PATCH
// is survived by a fresh upload; each blob is committed once.
func TestFault_ResetMidPatch(t *testing.T) {
	p, host := pushRegistry(t)
	p.Add(&faultproxy.Rule{Method: "PATCH", Nth: 1, Action: faultproxy.Action{Reset: true, ResetAfter: 1024}})
	img := stepImage(t)
	rep, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/reset:v1")}}, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if got := fixture.ValidateRemote(t, host+"/f/reset:v1"); got != d {
		t.Fatalf("digest %s, want %s", got, d)
	}
	if rep.BlobsUploaded != 3 {
		t.Errorf("uploaded %d, want 3", rep.BlobsUploaded)
	}
	if n := p.Count("PUT", `/blobs/uploads/.*digest=`, 201); n != 3 {
		t.Errorf("%d blob commits, want 3", n)
	}
	if n := p.Count("PATCH", ``, 0); n != 3 {
		t.Errorf("%d PATCHes, want 3 (one reset)", n)
	}
}

// TestFault_429RetryAfter: the retry after "429 Retry-After: 2" waits at
// least 2 s (real backoff otherwise is 1 ms here).
func TestFault_429RetryAfter(t *testing.T) {
	p, host := pushRegistry(t)
	p.Add(&faultproxy.Rule{Method: "POST", Nth: 1, Action: faultproxy.Action{Status: 429, Code: "TOOMANYREQUESTS", Headers: map[string]string{"Retry-After": "2"}}})
	img := fixture.LinuxImage(t, 1)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/rl:v1")}}, PushOptions{Transport: fastRetries(), Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	// With one job, the POST after the 429 is its retry.
	var first, second time.Time
	for _, e := range p.Log() {
		if e.Method != "POST" {
			continue
		}
		if first.IsZero() {
			if e.Status != 429 {
				t.Fatalf("first POST got %d", e.Status)
			}
			first = e.Time
		} else {
			second = e.Time
			break
		}
	}
	if second.IsZero() {
		t.Fatalf("no retry of the first POST: %+v", p.Log())
	}
	if gap := second.Sub(first); gap < 2*time.Second {
		t.Errorf("retried after %v, want >= 2s", gap)
	}
}

// TestFault_429Forever gives up with a message naming the rate limit and the
// registry.
func TestFault_429Forever(t *testing.T) {
	p, host := pushRegistry(t)
	p.Add(&faultproxy.Rule{Method: "POST", Action: faultproxy.Action{Status: 429, Code: "TOOMANYREQUESTS", Headers: map[string]string{"Retry-After": "0"}}})
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/rl:v1")}}, PushOptions{Transport: fastRetries(), Jobs: 1})
	if err == nil || !strings.Contains(err.Error(), "rate limited by "+host) || !strings.Contains(err.Error(), host+"/f/rl: starting upload of blob sha256:") {
		t.Fatalf("err = %v", err)
	}
	if n := p.Count("POST", ``, 429); n != 3 {
		t.Errorf("%d POSTs, want 3 attempts", n)
	}
}

// TestFault_NonRetryable: 400 MANIFEST_INVALID is not retried.
func TestFault_NonRetryable(t *testing.T) {
	p, host := pushRegistry(t)
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Status: 400, Code: "MANIFEST_INVALID"}})
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/bad:v1")}}, PushOptions{Transport: fastRetries()})
	if err == nil || !strings.Contains(err.Error(), host+"/f/bad: pushing manifest sha256:") || !strings.Contains(err.Error(), "MANIFEST_INVALID") {
		t.Fatalf("err = %v", err)
	}
	if n := p.Count("PUT", `/manifests/`, 0); n != 1 {
		t.Errorf("%d manifest PUTs, want 1", n)
	}
}

// TestFault_PartialPushThenRerun: a permanent 500 on the manifest PUT fails
// the push with no tag; a re-run uploads no blob twice and tags.
func TestFault_PartialPushThenRerun(t *testing.T) {
	p, host := pushRegistry(t)
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Status: 500}})
	img := fixture.LinuxImage(t, 3)
	req := []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/part:v1", host+"/f/part:latest")}}
	if _, err := Push(context.Background(), req, PushOptions{Transport: fastRetries()}); err == nil {
		t.Fatal("push succeeded through a permanent 500")
	}
	for _, tg := range []string{"v1", "latest"} {
		ref, _ := name.NewTag(host + "/f/part:" + tg)
		if _, err := remote.Head(ref); err == nil {
			t.Errorf("tag %s exists after a failed push", tg)
		}
	}
	if n := uploads(p); n != 4 {
		t.Errorf("first run: %d uploads, want 4", n)
	}
	p.Clear()
	p.ResetLog()
	rep, err := Push(context.Background(), req, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	if n := uploads(p); n != 0 {
		t.Errorf("re-run uploaded %d blobs again", n)
	}
	if rep.BlobsSkipped != 4 || rep.BlobsUploaded != 0 {
		t.Errorf("re-run report: up %d skipped %d", rep.BlobsUploaded, rep.BlobsSkipped)
	}
	d, _ := img.Digest()
	if got := fixture.ValidateRemote(t, host+"/f/part:latest"); got != d {
		t.Errorf("latest = %s", got)
	}
}

// TestFault_Hang: a registry that never answers the manifest PUT makes Push
// return when the context's deadline passes, with no tag.
func TestFault_Hang(t *testing.T) {
	p, host := pushRegistry(t)
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Hang: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	cfg := fastRetries()
	cfg.RequestTimeout = time.Minute
	_, err := Push(ctx, []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/hang:v1")}}, PushOptions{Transport: cfg})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	ref, _ := name.NewTag(host + "/f/hang:v1")
	if _, err := remote.Head(ref); err == nil {
		t.Error("tag exists")
	}
}

// TestFault_RequestTimeout: without an overall deadline, the per-request
// timeout ends a hung request.
func TestFault_RequestTimeout(t *testing.T) {
	p, host := pushRegistry(t)
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Hang: true}})
	cfg := fastRetries()
	cfg.RequestTimeout = 200 * time.Millisecond
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/hang:v1")}}, PushOptions{Transport: cfg})
	if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Fatalf("err = %v", err)
	}
	// A timed-out request is not retried (the registry is stalled, not
	// flaky); the push fails after one attempt.
	hangs := 0
	for _, e := range p.Log() {
		if e.Fault == "hang" {
			hangs++
		}
	}
	if hangs != 1 {
		t.Errorf("%d attempts, want 1", hangs)
	}
}

// TestFault_UploadTimeoutNotRetried (issue 13 point 9): an upload whose
// response never starts fails after one attempt, as the docs say of
// timeouts.
func TestFault_UploadTimeoutNotRetried(t *testing.T) {
	p, host := pushRegistry(t)
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/blobs/uploads/`), Action: faultproxy.Action{Hang: true}})
	cfg := fastRetries()
	cfg.RequestTimeout = 200 * time.Millisecond
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/uphang:v1")}}, PushOptions{Transport: cfg, Jobs: 1})
	if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Fatalf("err = %v", err)
	}
	hangs := 0
	for _, e := range p.Log() {
		if e.Fault == "hang" {
			hangs++
		}
	}
	if hangs != 1 {
		t.Errorf("%d attempts, want 1", hangs)
	}
}

// TestFault_HostileLocation: an upload Location on another private IP is
// refused before any byte goes there.
func TestFault_HostileLocation(t *testing.T) {
	p, host := pushRegistry(t)
	var hits atomic.Int32
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	other.Start()
	defer other.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(other.URL, "http://"), ":")
	p.RewriteLocation(func(l string) string {
		i := strings.Index(l, "/v2/")
		return "http://127.0.0.2:" + port + l[i:]
	})
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/ssrf:v1")}}, PushOptions{Transport: fastRetries()})
	if err == nil || !strings.Contains(err.Error(), "refusing upload location on another host 127.0.0.2:"+port+": uploads must stay on the registry "+host) {
		t.Fatalf("err = %v", err)
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the other host", hits.Load())
	}
}

// spyTransport records requests and never dials.
type spyTransport struct{ urls []string }

func (s *spyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.urls = append(s.urls, r.URL.String())
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r, Header: http.Header{}}, nil
}

// TestFault_TagFailureReportsMovedTags (F9): when one tag PUT fails, the
// error and the report say which tags already moved, and every tag still
// resolves to a complete image.
func TestFault_TagFailureReportsMovedTags(t *testing.T) {
	p, host := pushRegistry(t)
	old := fixture.LinuxImage(t, 1)
	pushTo(t, oci.Artifact{Image: old}, host+"/f/tags:v1", host+"/f/tags:latest")
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/latest$`), Action: faultproxy.Action{Status: 400, Code: "DENIED"}})
	img := fixture.LinuxImage(t, 1)
	rep, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/tags:v1", host+"/f/tags:latest")}},
		PushOptions{Transport: fastRetries(), Jobs: 1})
	if err == nil || !strings.Contains(err.Error(), "tagging latest") || !strings.Contains(err.Error(), "(tags already changed: ["+host+"/f/tags:v1])") {
		t.Fatalf("err = %v", err)
	}
	if rep == nil || len(rep.Artifacts[0].Tags) != 1 || rep.Artifacts[0].Tags[0].Status != TagMoved {
		t.Fatalf("report: %+v", rep)
	}
	d, _ := img.Digest()
	od, _ := old.Digest()
	if fixture.ValidateRemote(t, host+"/f/tags:v1") != d || fixture.ValidateRemote(t, host+"/f/tags:latest") != od {
		t.Error("tags do not point where the report says")
	}
}

// TestFault_WrongDigestHeader (issue 13 point 9): a registry whose HEAD of
// a tag sends a wrong Docker-Content-Digest does not make the report say
// the tag moved from that digest: the previous digest is the manifest's.
func TestFault_WrongDigestHeader(t *testing.T) {
	p, host := pushRegistry(t)
	old := fixture.LinuxImage(t, 1)
	pushTo(t, oci.Artifact{Image: old}, host+"/f/hdr:v1")
	zero := "sha256:" + strings.Repeat("0", 64)
	p.Add(&faultproxy.Rule{Method: "HEAD", Path: faultproxy.PathRe(`/manifests/v1$`), Action: faultproxy.Action{
		Status: 200, Headers: map[string]string{"Docker-Content-Digest": zero}}})
	img := fixture.LinuxImage(t, 1)
	rep, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/hdr:v1")}}, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	od, _ := old.Digest()
	if got := rep.Artifacts[0].Tags[0]; got.Status != TagMoved || got.Previous != od.String() {
		t.Fatalf("tag result %+v; want moved from %s", got, od)
	}
	// The same image again: the header lies, the manifest says unchanged.
	rep, err = Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/hdr:v1")}}, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Artifacts[0].Tags[0]; got.Status != TagUnchanged {
		t.Fatalf("tag result %+v; want unchanged", got)
	}
}
