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
	p, host := pushRegistry(t)
	base, bl := baseWithLayer(t)
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

// A rerun after a push into a new repository that failed past its blobs
// (the repository has no tag, so it is listed as new again) does not send
// the base's layer again when nothing else would cost bytes (no probe):
// whether the base is on the same registry, which here answers mounts
// with an upload session, or on another one.
func TestPush_RerunSendsLentBlobsOnce(t *testing.T) {
	for _, sameRegistry := range []bool{true, false} {
		p, host := pushRegistry(t)
		baseHost := host
		if !sameRegistry {
			bs := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
			defer bs.Close()
			baseHost = strings.TrimPrefix(bs.URL, "http://")
		}
		base, bl := baseWithLayer(t)
		baseRef, _ := name.NewTag(baseHost + "/base:1")
		if err := remote.Write(baseRef, base); err != nil {
			t.Fatal(err)
		}
		// The image changes only the config: its one layer is the base's.
		img, err := mutate.Config(base, v1.Config{Entrypoint: []string{"/app"}})
		if err != nil {
			t.Fatal(err)
		}
		lent, _ := bl.Digest()
		req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/fresh:v1"),
			MountFrom: []name.Repository{baseRef.Context()}, Lent: []v1.Hash{lent}, Built: true}
		o := PushOptions{Transport: fastRetries(), New: []string{host + "/fresh"}}
		p.Add(&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile(`/fresh/manifests/`), Action: faultproxy.Action{Status: 400, Code: "MANIFEST_INVALID"}})
		if _, err := Push(context.Background(), []PushRequest{req}, o); err == nil {
			t.Fatal("the first push did not fail")
		}
		p.Clear()
		rep, err := Push(context.Background(), []PushRequest{req}, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range rep.Blobs {
			if b.Digest == lent.String() && b.BytesUploaded != 0 {
				t.Errorf("same registry %v: the rerun sent the base's layer again (%s, %d bytes)", sameRegistry, b.Status, b.BytesUploaded)
			}
		}
		want, _ := img.Digest()
		if got := fixture.ValidateRemote(t, host+"/fresh:v1"); got != want {
			t.Errorf("fresh:v1 = %s, want %s", got, want)
		}
	}
}

// With nothing in a new repository that would cost bytes to send again
// (the base's layer is lent, the config is the push's own), no probe is
// sent: a config is never it.
func TestPush_NoProbeOfOwnBlobs(t *testing.T) {
	p, host := pushRegistry(t)
	base := fixture.LinuxImage(t, 1)
	baseRef, _ := name.NewTag(host + "/base:1")
	if err := remote.Write(baseRef, base); err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Config(base, v1.Config{Entrypoint: []string{"/app"}})
	if err != nil {
		t.Fatal(err)
	}
	p.ResetLog()
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/fresh:v1"),
		MountFrom: []name.Repository{baseRef.Context()}, Lent: fixture.LayerDigests(t, base), Built: true}
	if _, err := Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries(), New: []string{host + "/fresh"}}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigName()
	if n := p.Count("HEAD", `/fresh/blobs/`+cfg.String(), 0); n != 0 {
		t.Errorf("the config was asked for %d times; a push's own blob is never the probe", n)
	}
}

// baseWithLayer returns a linux/amd64 image of one random 64 KiB layer,
// and that layer.
func baseWithLayer(t *testing.T) (v1.Image, v1.Layer) {
	t.Helper()
	bl, err := random.Layer(64<<10, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	base, err := mutate.AppendLayers(fixture.LinuxImage(t, 0), bl)
	if err != nil {
		t.Fatal(err)
	}
	return base, bl
}
