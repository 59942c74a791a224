package registry

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

// In a repository listed as new, a blob the base's repository lends
// (PushRequest.Lent) is mounted at once (asked for), even when it is the
// push's largest: the probe that confirms the listing asks for the largest blob
// that would cost bytes to send again, here the one layer the push adds.
func TestPush_LentBlobsNotHeldByProbe(t *testing.T) {
	p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s := httptest.NewServer(p)
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	base := fixture.LinuxImage(t, 0)
	bl, err := random.Layer(64<<10, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	if base, err = mutate.AppendLayers(base, bl); err != nil {
		t.Fatal(err)
	}
	baseRef, _ := name.NewTag(host + "/base:1")
	if err := remote.Write(baseRef, base); err != nil {
		t.Fatal(err)
	}
	added, err := random.Layer(4<<10, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, added)
	if err != nil {
		t.Fatal(err)
	}
	lent, _ := bl.Digest()
	addedDigest, _ := added.Digest()
	p.ResetLog()
	hold := make(chan struct{})
	p.Add(&faultproxy.Rule{Method: "HEAD", Path: regexp.MustCompile(`/fresh/blobs/`), Action: faultproxy.Action{Wait: hold}})
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/fresh:v1"),
		MountFrom: []name.Repository{baseRef.Context()}, Lent: []v1.Hash{lent}}
	done := make(chan error, 1)
	go func() {
		_, err := Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries(), New: []string{host + "/fresh"}})
		done <- err
	}()
	// (This registry answers a mount with an upload session: asking is
	// what counts.)
	mounted := until(func() bool {
		return p.Count("POST", `mount=`+regexp.QuoteMeta(strings.ReplaceAll(lent.String(), ":", "%3A")), 0) > 0
	})
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !mounted {
		t.Error("the lent base layer's mount was not asked for while the probe was held")
	}
	if n := p.Count("HEAD", `/fresh/blobs/`+addedDigest.String(), 0); n != 1 {
		t.Errorf("%d probes of the added layer, want 1", n)
	}
	want, _ := img.Digest()
	if got := fixture.ValidateRemote(t, host+"/fresh:v1"); got != want {
		t.Errorf("fresh:v1 = %s, want %s", got, want)
	}
}
