package registry

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

// A first push into a new repository that fails at its manifests leaves
// its blobs and no tag, so the repository still lists as missing; the
// rerun, told it is new, finds its largest blob there and asks for each
// blob as usual: nothing is uploaded twice.
func TestPush_RerunIntoNewRepositoryUploadsNothingTwice(t *testing.T) {
	p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s := httptest.NewServer(p)
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 81, true)
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/fresh:v1")}
	p.Add(&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile("/manifests/sha256:"), Action: faultproxy.Action{Status: 400, Code: "MANIFEST_INVALID"}})
	o := PushOptions{Transport: fastRetries(), New: []string{host + "/fresh"}}
	if _, err := Push(context.Background(), []PushRequest{req}, o); err == nil {
		t.Fatal("the first push did not fail")
	}
	p.Clear()
	rep, err := Push(context.Background(), []PushRequest{req}, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsUploaded != 0 || rep.BlobsSkipped == 0 {
		t.Errorf("the rerun uploaded %d blobs and skipped %d; want none uploaded", rep.BlobsUploaded, rep.BlobsSkipped)
	}
}

// Two pushes of one subject's referrers into a repository both were told
// is new (two pipelines of one commit) keep both referrers: the referrers
// tag is read and merged even there.
func TestPush_ReferrersTagMergedInNewRepository(t *testing.T) {
	p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(false)))
	s := httptest.NewServer(p)
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 91, true)
	for _, doc := range []string{`{"run":1}`, `{"run":2}`} {
		req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/fresh:v1"), Referrers: []v1.Image{sbomReferrer(t, img, doc)}}
		if _, err := Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries(), New: []string{host + "/fresh"}}); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := ReadAttached(context.Background(), tagsOf(t, host+"/fresh:v1")[0], fastRetries(), "application/spdx+json")
	if err != nil || len(docs) != 2 {
		t.Errorf("%d referrers findable after two pushes (%v), want 2", len(docs), err)
	}
}
