package registry

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// pushRegistry serves ggcr's in-process registry behind a fault proxy and
// returns the proxy and the registry host (127.0.0.1:PORT).
func pushRegistry(t *testing.T) (*faultproxy.Proxy, string) {
	t.Helper()
	p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s := httptest.NewServer(p)
	t.Cleanup(func() { p.Close(); s.Close() })
	return p, strings.TrimPrefix(s.URL, "http://")
}

// fastRetries retries after milliseconds, not seconds.
func fastRetries() TransportConfig {
	return TransportConfig{Backoff: time.Millisecond, RequestTimeout: 5 * time.Second}
}

func tagsOf(t *testing.T, refs ...string) []name.Tag {
	t.Helper()
	var out []name.Tag
	for _, r := range refs {
		tag, err := name.NewTag(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tag)
	}
	return out
}

func statusByTag(r *PushReport) map[string]string {
	m := map[string]string{}
	for _, a := range r.Artifacts {
		for _, t := range a.Tags {
			m[t.Tag] = string(t.Status)
		}
	}
	return m
}

func TestPush_TagsReportAndNoOpRepush(t *testing.T) {
	p, host := pushRegistry(t)
	ctx := context.Background()
	img := fixture.LinuxImage(t, 3)
	d, _ := img.Digest()
	tags, err := spec.ResolveTags(host+"/demo/app", []string{"latest", "edge"}, "2.1.106")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 5 {
		t.Fatalf("tags = %v", tags)
	}
	rep, err := Push(ctx, []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tags}}, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	// 3 layers + config.
	if rep.BlobsUploaded != 4 || rep.BlobsSkipped != 0 || rep.BlobsMounted != 0 {
		t.Errorf("first push: %+v", rep)
	}
	if got := uploads(p); got != 4 {
		t.Errorf("registry saw %d uploads, want 4", got)
	}
	for _, tg := range []string{"latest", "edge", "2.1.106", "2.1", "2"} {
		ref := host + "/demo/app:" + tg
		if got := fixture.ValidateRemote(t, ref); got != d {
			t.Errorf("%s = %s, want %s", tg, got, d)
		}
		if s := statusByTag(rep)[ref]; s != "created" {
			t.Errorf("%s status %q, want created", tg, s)
		}
	}
	if rep.Artifacts[0].Digest != d.String() || len(rep.Artifacts[0].Platforms) != 1 || rep.Artifacts[0].Platforms[0].Platform != "linux/amd64" {
		t.Errorf("artifact report: %+v", rep.Artifacts[0])
	}

	// A second push uploads nothing and changes no tag.
	p.ResetLog()
	rep, err = Push(ctx, []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tags}}, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsUploaded != 0 || rep.BlobsSkipped != 4 || rep.BytesUploaded != 0 {
		t.Errorf("second push: %+v", rep)
	}
	if n := p.Count("PATCH", ``, 0) + p.Count("POST", ``, 0) + p.Count("PUT", ``, 0); n != 0 {
		t.Errorf("no-op push wrote %d times: %+v", n, p.Log())
	}
	for tg, s := range statusByTag(rep) {
		if s != "unchanged" {
			t.Errorf("%s: %s, want unchanged", tg, s)
		}
	}

	// Moving one tag reports the previous digest.
	img2 := fixture.LinuxImage(t, 1)
	d2, _ := img2.Digest()
	rep, err = Push(ctx, []PushRequest{{Artifact: oci.Artifact{Image: img2}, Tags: tagsOf(t, host+"/demo/app:latest")}}, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Artifacts[0].Tags[0]
	if tr.Status != TagMoved || tr.Previous != d.String() || tr.Digest != d2.String() {
		t.Errorf("moved tag: %+v", tr)
	}
	if got := fixture.ValidateRemote(t, host+"/demo/app:latest"); got != d2 {
		t.Errorf("latest = %s, want %s", got, d2)
	}
}

// TestPush_Order checks the push order in the registry's request log: every
// blob upload finishes before any manifest PUT, child manifests come before
// their index, and tags come last.
func TestPush_Order(t *testing.T) {
	p, host := pushRegistry(t)
	idx, err := random.Index(2048, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	img := fixture.LinuxImage(t, 2)
	reqs := []PushRequest{
		{Artifact: oci.Artifact{Index: idx}, Tags: tagsOf(t, host+"/o/multi:v1", host+"/o/multi:latest")},
		{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/o/single:v1")},
	}
	_, err = Push(context.Background(), reqs, PushOptions{Transport: fastRetries(), Jobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	fixture.ValidateRemote(t, host+"/o/multi:v1")
	fixture.ValidateRemote(t, host+"/o/single:v1")

	// Overlap matters, not only completion order: every step must START
	// after the previous step's requests have ENDED (Entry.Time / End).
	var blobsEnd, childrenEnd, manifestsEnd time.Time
	var manifestStarts, indexStarts, tagStarts []time.Time
	for _, e := range p.Log() {
		switch {
		case e.Method == "PUT" && strings.Contains(e.Path, "/blobs/uploads/"),
			e.Method == "PATCH" && strings.Contains(e.Path, "/blobs/uploads/"),
			e.Method == "POST" && strings.Contains(e.Path, "/blobs/uploads/"):
			blobsEnd = later(blobsEnd, e.End)
		case e.Method == "PUT" && strings.Contains(e.Path, "/manifests/sha256:"):
			manifestsEnd = later(manifestsEnd, e.End)
			if strings.HasSuffix(e.Path, idxDigest.String()) {
				indexStarts = append(indexStarts, e.Time)
			} else {
				manifestStarts = append(manifestStarts, e.Time)
				if strings.Contains(e.Path, "/o/multi/") {
					childrenEnd = later(childrenEnd, e.End)
				}
			}
		case e.Method == "PUT" && strings.Contains(e.Path, "/manifests/"):
			tagStarts = append(tagStarts, e.Time)
		}
	}
	if blobsEnd.IsZero() || len(manifestStarts) == 0 || len(indexStarts) == 0 || len(tagStarts) == 0 {
		t.Fatalf("missing steps in log: %+v", p.Log())
	}
	for _, s := range slices.Concat(manifestStarts, indexStarts) {
		if !s.After(blobsEnd) {
			t.Errorf("a manifest PUT started at %v, before the last blob request ended at %v", s, blobsEnd)
		}
	}
	for _, s := range indexStarts {
		if !s.After(childrenEnd) {
			t.Errorf("the index PUT started at %v, before its last child manifest ended at %v", s, childrenEnd)
		}
	}
	for _, s := range tagStarts {
		if !s.After(manifestsEnd) {
			t.Errorf("a tag PUT started at %v, before the last manifest PUT ended at %v", s, manifestsEnd)
		}
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func TestPush_MountFromBase(t *testing.T) {
	p, host := pushRegistry(t)
	ctx := context.Background()
	base := fixture.LinuxImage(t, 2)
	baseRepo, _ := name.NewRepository(host + "/lib/base")
	if _, err := Push(ctx, []PushRequest{{Artifact: oci.Artifact{Image: base}, Tags: tagsOf(t, host+"/lib/base:1")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	add, err := random.Layer(1024, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	app, err := mutate.AppendLayers(base, add)
	if err != nil {
		t.Fatal(err)
	}
	p.ResetLog()
	rep, err := Push(ctx, []PushRequest{{Artifact: oci.Artifact{Image: app}, Tags: tagsOf(t, host+"/team/app:1"), MountFrom: []name.Repository{baseRepo}}}, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	// The two base layers are not uploaded again (pkg/registry keeps blobs
	// globally, so they are HEAD hits here; the docker-registry test sees
	// real mounts); the new layer and the new config are uploaded.
	if rep.BlobsMounted+rep.BlobsSkipped != 2 || rep.BlobsUploaded != 2 {
		t.Errorf("report: up %d mounted %d skipped %d", rep.BlobsUploaded, rep.BlobsMounted, rep.BlobsSkipped)
	}
	if got := uploads(p); got != 2 {
		t.Errorf("registry saw %d uploads, want 2", got)
	}
	fixture.ValidateRemote(t, host+"/team/app:1")
}

// TestPush_SharedBlobsOncePerRegistry pushes 20 images sharing a base to 5
// repositories in one call: each unique blob is uploaded once, the other
// repositories get it by mount.
func TestPush_SharedBlobsOncePerRegistry(t *testing.T) {
	p, host := pushRegistry(t)
	base := fixture.LinuxImage(t, 2)
	var reqs []PushRequest
	for i := range 20 {
		l, err := random.Layer(512, "application/vnd.oci.image.layer.v1.tar+gzip")
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(base, l)
		if err != nil {
			t.Fatal(err)
		}
		repo := host + "/svc/r" + string(rune('a'+i%5))
		reqs = append(reqs, PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, repo+":s"+string(rune('a'+i)))})
	}
	rep, err := Push(context.Background(), reqs, PushOptions{Transport: fastRetries(), Jobs: 8})
	if err != nil {
		t.Fatal(err)
	}
	// Unique blobs: 2 base layers + 20 layers + 20 configs.
	if got := uploads(p); got != 42 {
		t.Errorf("uploads = %d, want 42", got)
	}
	// The 2 base layers in 4 more repos are mounted or HEAD hits.
	if rep.BlobsUploaded != 42 || rep.BlobsMounted+rep.BlobsSkipped != 8 {
		t.Errorf("report: up %d mounted %d skipped %d", rep.BlobsUploaded, rep.BlobsMounted, rep.BlobsSkipped)
	}
	for _, r := range reqs {
		fixture.ValidateRemote(t, r.Tags[0].String())
	}
}

func TestPush_Errors(t *testing.T) {
	_, host := pushRegistry(t)
	img := fixture.LinuxImage(t, 1)
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}}}, PushOptions{})
	if err == nil || !strings.Contains(err.Error(), "no tags") {
		t.Errorf("no tags: %v", err)
	}
	_, err = Push(context.Background(), []PushRequest{{Tags: tagsOf(t, host+"/a:b")}}, PushOptions{})
	if err == nil || !strings.Contains(err.Error(), "empty artifact") {
		t.Errorf("empty artifact: %v", err)
	}
	_, err = Push(context.Background(), nil, PushOptions{Jobs: -1})
	if err == nil || err.Error() != "registry: push jobs must be at least 1, got -1" {
		t.Errorf("jobs: %v", err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Index: idx}, Tags: tagsOf(t, host+"/a:idx")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	if ds := fixture.ValidateRemote(t, host+"/a:idx"); ds.String() == "" {
		t.Fatal("no digest")
	}
}

// TestPush_TwoPushersSameImage (C2): two pushes of the same image to the same
// tags at once both succeed and the tags end on the image.
func TestPush_TwoPushersSameImage(t *testing.T) {
	_, host := pushRegistry(t)
	img := fixture.LinuxImage(t, 3)
	req := []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/c2/app:v1", host+"/c2/app:latest")}}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := Push(context.Background(), req, PushOptions{Transport: fastRetries()})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	d, _ := img.Digest()
	for _, tg := range []string{"v1", "latest"} {
		if fixture.ValidateRemote(t, host+"/c2/app:"+tg) != d {
			t.Errorf("%s does not point at the image", tg)
		}
	}
}
