package base

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/fixture"
)

// TestBaseStreamVerifiesDigest: a base layer streamed for its headers
// (gzip decompressed by klauspost/compress) gives the layer's exact bytes,
// and a registry that serves other bytes under the layer's digest (here
// another valid gzip layer, or the layer's own bytes cut short) makes the
// stream fail, never succeed.
func TestBaseStreamVerifiesDigest(t *testing.T) {
	r := fixture.NewRegistry(t)
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 7, true)
	d := r.Push(t, "streamed:v1", img)
	other := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 8, true)
	ols, _ := other.Layers()
	orc, _ := ols[0].Compressed()
	otherBytes, _ := io.ReadAll(orc)
	orc.Close()
	want := fixture.LayerDigests(t, img)[0]
	ls, _ := img.Layers()
	urc, _ := ls[0].Uncompressed()
	wantTar, _ := io.ReadAll(urc)
	urc.Close()

	lrc, _ := ls[0].Compressed()
	ownBytes, _ := io.ReadAll(lrc)
	lrc.Close()
	for _, body := range [][]byte{nil, otherBytes, ownBytes[:len(ownBytes)/2]} {
		tamper := body != nil
		o := viaRegistry(t, r, "", nil)
		var rt http.RoundTripper = r.Transport
		if tamper {
			rt = swapBlob{next: r.Transport, digest: want.String(), body: body}
		}
		o.Remote = []remote.Option{remote.WithTransport(rt), remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
		rb, err := resolveBase(context.Background(), r.Host+"/streamed@"+d.String(), nil, o)
		if err != nil {
			t.Fatal(err)
		}
		bls, _ := rb.Platforms[0].Image.Layers()
		sl, ok := bls[0].(interface {
			StreamUncompressed(context.Context) (io.ReadCloser, error)
		})
		if !ok {
			t.Fatalf("base layer %T cannot stream", bls[0])
		}
		rc, err := sl.StreamUncompressed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		switch {
		case !tamper && (err != nil || !bytes.Equal(got, wantTar)):
			t.Errorf("stream = %d bytes, %v; want the layer's %d bytes", len(got), err, len(wantTar))
		case tamper && err == nil:
			t.Errorf("a blob with the wrong bytes streamed without error (%d bytes)", len(got))
		}
	}
}

// swapBlob serves body for GETs of the blob digest.
type swapBlob struct {
	next   http.RoundTripper
	digest string
	body   []byte
}

func (s swapBlob) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+s.digest) {
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(s.body))
		resp.ContentLength = int64(len(s.body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(s.body)))
	}
	return resp, err
}

// TestBaseStreamCloseWhileStalled: closing a base layer stream whose
// download has stalled returns at once (the download is closed before the
// read-aheads that wait on it).
func TestBaseStreamCloseWhileStalled(t *testing.T) {
	r := fixture.NewRegistry(t)
	img, err := random.Image(4<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = fixture.AsLinux(t, img)
	d := r.Push(t, "stalled:v1", img)
	layer := fixture.LayerDigests(t, img)[0]
	o := viaRegistry(t, r, "", nil)
	release := make(chan struct{})
	o.Remote = []remote.Option{remote.WithTransport(stallBlob{next: r.Transport, digest: layer.String(), after: 200 << 10, release: release})}
	rb, err := resolveBase(context.Background(), r.Host+"/stalled@"+d.String(), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	bls, _ := rb.Platforms[0].Image.Layers()
	rc, err := bls[0].(interface {
		StreamUncompressed(context.Context) (io.ReadCloser, error)
	}).StreamUncompressed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { rc.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("Close of a stalled stream did not return in 5 s")
		close(release)
		<-closed
	}
}

// stallBlob serves the blob digest's first after bytes, then nothing
// until the body is closed (or release is).
type stallBlob struct {
	next    http.RoundTripper
	digest  string
	after   int
	release chan struct{}
}

func (s stallBlob) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+s.digest) {
		resp.Body = &stallBody{rc: resp.Body, left: s.after, closed: make(chan struct{}), release: s.release}
	}
	return resp, err
}

type stallBody struct {
	rc      io.ReadCloser
	left    int
	once    sync.Once
	closed  chan struct{}
	release chan struct{}
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		select {
		case <-b.closed:
		case <-b.release:
		}
		return 0, errors.New("body closed")
	}
	n, err := b.rc.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

func (b *stallBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return b.rc.Close()
}
