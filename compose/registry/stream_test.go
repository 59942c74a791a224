package registry

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

// streamRig is a registry behind a fault proxy, an image, and its first
// layer streamed into repository st (not yet committed).
type streamRig struct {
	p        *faultproxy.Proxy
	host     string
	img      v1.Image
	layer    v1.Hash
	size     int64
	others   []v1.Hash // the config and the other layers
	streamer *Streamer
	bs       *BlobStream
}

func newStreamRig(t *testing.T) *streamRig {
	t.Helper()
	r := &streamRig{}
	r.p, r.host = pushRegistry(t)
	r.img = fixture.LinuxImage(t, 3)
	ls, err := r.img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if r.layer, err = ls[0].Digest(); err != nil {
		t.Fatal(err)
	}
	if r.size, err = ls[0].Size(); err != nil {
		t.Fatal(err)
	}
	cfg, err := r.img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	r.others = append(fixture.LayerDigests(t, r.img)[1:], cfg)
	_, r.streamer = sessionStreamer(t, r.host+"/st")
	if r.bs, err = r.streamer.Begin(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(r.bs, rc); err != nil {
		t.Fatal(err)
	}
	return r
}

// commitPath matches the final PUT of an upload of blob d.
func commitPath(d v1.Hash) *regexp.Regexp {
	return regexp.MustCompile(`/blobs/uploads/.*digest=` + regexp.QuoteMeta(strings.ReplaceAll(d.String(), ":", "%3A")))
}

// push pushes the image to st:v1 with the rig's Streamer, one request
// at a time (a wait for the Streamer must not take the one slot).
func (r *streamRig) push(t *testing.T) (*PushReport, error) {
	t.Helper()
	req := PushRequest{Artifact: oci.Artifact{Image: r.img}, Tags: tagsOf(t, r.host+"/st:v1")}
	return Push(context.Background(), []PushRequest{req}, PushOptions{Transport: fastRetries(), Jobs: 1, Streams: []*Streamer{r.streamer}})
}

// wantUploaded checks that rep counts the streamed layer as uploaded,
// with its size, and that the image is whole in the registry.
func (r *streamRig) wantUploaded(t *testing.T, rep *PushReport) {
	t.Helper()
	for _, b := range rep.Blobs {
		if b.Digest == r.layer.String() && (b.Status != "uploaded" || b.BytesUploaded != r.size) {
			t.Errorf("the streamed layer is reported %s with %d bytes, want uploaded with %d", b.Status, b.BytesUploaded, r.size)
		}
	}
	want, err := r.img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := fixture.ValidateRemote(t, r.host+"/st:v1"); got != want {
		t.Errorf("st:v1 = %s, want %s", got, want)
	}
}

// A layer committed in the background (CommitLater) is waited for by the
// push, which meanwhile uploads the image's other blobs, pushes no
// manifest before the commit has ended, and does not upload the layer
// again.
func TestStreamer_CommitLaterPushWaits(t *testing.T) {
	r := newStreamRig(t)
	hold := make(chan struct{})
	r.p.Add(&faultproxy.Rule{Method: "PUT", Path: commitPath(r.layer), Action: faultproxy.Action{Wait: hold}})
	r.bs.CommitLater(context.Background(), r.layer, r.size)
	if !r.streamer.Started(r.layer.String()) {
		t.Fatal("Started does not know the layer being committed")
	}
	type result struct {
		rep *PushReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := r.push(t)
		done <- result{rep, err}
	}()
	othersUp := until(func() bool {
		for _, d := range r.others {
			if r.p.Count("PUT", commitPath(d).String(), 201) == 0 {
				return false
			}
		}
		return true
	})
	manifests := r.p.Count("PUT", `/manifests/`, 0)
	close(hold)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if !othersUp {
		t.Error("the other blobs were not uploaded while the layer's commit was held")
	}
	if manifests != 0 {
		t.Errorf("%d manifests were pushed before the layer's commit ended", manifests)
	}
	if n := r.p.Count("PATCH", "", 0) + r.p.Count("PUT", commitPath(r.layer).String(), 0); n != 2 {
		t.Errorf("%d PATCH and commit requests for the layer; want the stream's two", n)
	}
	r.streamer.Wait()
	r.wantUploaded(t, res.rep)
}

// A background commit that fails leaves the blob to the push, which
// uploads it the ordinary way.
func TestStreamer_CommitLaterFailureUploadsAgain(t *testing.T) {
	r := newStreamRig(t)
	r.p.Add(&faultproxy.Rule{Method: "PUT", Path: commitPath(r.layer), Times: 1, Action: faultproxy.Action{Status: 400, Code: "DIGEST_INVALID"}})
	r.bs.CommitLater(context.Background(), r.layer, r.size)
	r.streamer.Wait()
	if _, ok := r.streamer.Blob(context.Background(), r.layer.String()); ok {
		t.Fatal("Blob reports a failed commit as uploaded")
	}
	if f := r.streamer.Failures(); len(f) != 1 || !strings.Contains(f[0].Error(), "committing blob "+r.layer.String()[:19]) {
		t.Errorf("Failures = %v, want the commit's error", f)
	}
	rep, err := r.push(t)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.p.Count("PUT", commitPath(r.layer).String(), 201); n != 1 {
		t.Errorf("the layer was committed %d times by the push; want once", n)
	}
	r.wantUploaded(t, rep)
}

// Blob gives up waiting when its context ends.
func TestStreamer_BlobWaitEndsWithContext(t *testing.T) {
	r := newStreamRig(t)
	t.Cleanup(r.streamer.Wait)
	hold := make(chan struct{})
	defer close(hold)
	r.p.Add(&faultproxy.Rule{Method: "PUT", Path: commitPath(r.layer), Action: faultproxy.Action{Wait: hold}})
	cctx, stop := context.WithCancel(context.Background())
	r.bs.CommitLater(cctx, r.layer, r.size)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := r.streamer.Blob(ctx, r.layer.String()); ok {
		t.Error("Blob reports a commit still held as uploaded")
	}
	// A commit cut short by its own context is no failure to warn of.
	stop()
	r.streamer.Wait()
	if f := r.streamer.Failures(); len(f) != 0 {
		t.Errorf("Failures = %v after a cancelled commit, want none", f)
	}
}

// Upload sessions a Streamer opened ahead (Reserve) take the small blobs
// a push made (PushRequest.Built), an image's config and a referrer's
// config and document, each with one request; the layer starts its own,
// and so does what the writer puts beside the referrers. The session no
// blob took is deleted.
func TestStreamer_ReserveTakesOwnBlobs(t *testing.T) {
	p, host := pushRegistry(t)
	repo, st := sessionStreamer(t, host+"/rs")
	st.Reserve(context.Background(), 4)
	st.Wait()
	if n := p.Count("POST", `/rs/blobs/uploads/$`, 202); n != 4 {
		t.Fatalf("%d sessions opened, want 4", n)
	}
	p.ResetLog()
	img := fixture.LinuxImage(t, 1)
	cfg, _ := img.ConfigName()
	ref := sbomReferrer(t, img, `{"doc":1}`)
	refLayers := fixture.LayerDigests(t, ref)
	record := []byte(`{"record":1}`)
	recordDigest, _, err := v1.SHA256(strings.NewReader(string(record)))
	if err != nil {
		t.Fatal(err)
	}
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/rs:v1"), Referrers: []v1.Image{ref}, Built: true}
	o := PushOptions{Transport: fastRetries(), Streams: []*Streamer{st}, BeforeTags: func(ctx context.Context, w *Writer) {
		if err := w.PutBlob(ctx, repo, recordDigest, record); err != nil {
			t.Error(err)
		}
	}}
	if _, err := Push(context.Background(), []PushRequest{req}, o); err != nil {
		t.Fatal(err)
	}
	refCfg, _ := ref.ConfigName()
	for _, d := range []v1.Hash{cfg, refCfg, refLayers[0], recordDigest} {
		if n := p.Count("PUT", commitPath(d).String(), 201); n != 1 {
			t.Errorf("blob %s committed %d times, want once", d, n)
		}
	}
	// The layer and the writer's blob asked for sessions of their own;
	// the three blobs the push made did not.
	if n := p.Count("POST", `/rs/blobs/uploads/`, 0); n != 2 {
		t.Errorf("%d POSTs during the push, want 2 (the layer, the writer's blob)", n)
	}
	if n := p.Count("DELETE", `/rs/blobs/uploads/`, 0); n != 1 {
		t.Errorf("%d sessions deleted, want the one left", n)
	}
	want, _ := img.Digest()
	if got := fixture.ValidateRemote(t, host+"/rs:v1"); got != want {
		t.Errorf("rs:v1 = %s, want %s", got, want)
	}
}

// A session opened ahead that the registry has dropped by the time a blob
// takes it (it expired) costs one more request at once, not a retry
// after a pause, nor the push (one attempt only here).
func TestStreamer_ReservedSessionExpired(t *testing.T) {
	p, host := pushRegistry(t)
	_, st := sessionStreamer(t, host+"/rx")
	st.Reserve(context.Background(), 1)
	st.Wait()
	img := fixture.LinuxImage(t, 1)
	cfg, _ := img.ConfigName()
	p.Add(&faultproxy.Rule{Method: "PUT", Path: commitPath(cfg), Times: 1, Action: faultproxy.Action{Status: 404, Code: "BLOB_UPLOAD_UNKNOWN"}})
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/rx:v1"), Built: true}
	o := PushOptions{Transport: TransportConfig{Attempts: 1, Backoff: time.Hour}, Streams: []*Streamer{st}}
	if _, err := Push(context.Background(), []PushRequest{req}, o); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got := fixture.ValidateRemote(t, host+"/rx:v1"); got != want {
		t.Errorf("rx:v1 = %s, want %s", got, want)
	}
	if n := p.Count("PUT", commitPath(cfg).String(), 404); n != 1 {
		t.Errorf("%d commits of the config refused, want the one in the expired session", n)
	}
}

// Release deletes every session Reserve opened, also those still being
// opened when it is called.
func TestStreamer_ReleaseWaitsForReserve(t *testing.T) {
	p, host := pushRegistry(t)
	_, st := sessionStreamer(t, host+"/rr")
	hold := make(chan struct{})
	p.Add(&faultproxy.Rule{Method: "POST", Path: regexp.MustCompile(`/rr/blobs/uploads/$`), Action: faultproxy.Action{Wait: hold}})
	st.Reserve(context.Background(), 2)
	released := make(chan struct{})
	go func() { st.Release(context.Background()); close(released) }()
	time.Sleep(50 * time.Millisecond)
	close(hold)
	<-released
	if n := p.Count("DELETE", `/rr/blobs/uploads/`, 0); n != 2 {
		t.Errorf("%d sessions deleted, want the 2 opened", n)
	}
}

// sessionStreamer returns repository ref and a Streamer into it.
func sessionStreamer(t *testing.T, ref string) (name.Repository, *Streamer) {
	t.Helper()
	repo, err := name.NewRepository(ref)
	if err != nil {
		t.Fatal(err)
	}
	return repo, NewStreamer(repo, fastRetries())
}
