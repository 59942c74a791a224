package local

import (
	"context"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/fixture"
)

// TestLocalRegistry_Persists: tags, manifests (an index too) and blobs
// survive a restart; deletes too.
func TestLocalRegistry_Persists(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Registry, string, func()) {
		r, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(r)
		return r, strings.TrimPrefix(s.URL, "http://"), func() { s.Close(); r.Close() }
	}
	_, host, stop := start()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	push(t, img, host+"/dev/app:v1", host+"/dev/app:gone")
	push(t, idx, host+"/dev/multi:v1")
	gone, _ := name.ParseReference(host + "/dev/app:gone")
	// Deleting by tag (pkg/registry allows it) is journaled too.
	if err := remote.Delete(gone); err != nil {
		t.Fatal(err)
	}
	stop()

	// The restarted registry listens on another port; refs move with it.
	_, host, stop = start()
	defer stop()
	d, _ := img.Digest()
	if got := fixture.ValidateRemote(t, host+"/dev/app:v1"); got != d {
		t.Errorf("after restart: %s, want %s", got, d)
	}
	di, _ := idx.Digest()
	if got := fixture.ValidateRemote(t, host+"/dev/multi:v1"); got != di {
		t.Errorf("index after restart: %s, want %s", got, di)
	}
	repo, _ := name.NewRepository(host + "/dev/app")
	tags, err := remote.List(repo)
	if err != nil || !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("tags after restart = %q, %v", tags, err)
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", t.TempDir(), nil, func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("registry did not start")
	}
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	push(t, img, addr.String()+"/a/b:c")
	fixture.ValidateRemote(t, addr.String()+"/a/b:c")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestJournalFailureReported: a manifest change the journal cannot record
// would be lost on restart, so the client is told it failed.
func TestJournalFailureReported(t *testing.T) {
	r, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(r)
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	push(t, img, host+"/j/app:ok")
	r.Close() // the journal can no longer be written
	ref, _ := name.ParseReference(host + "/j/app:lost")
	err = remote.Write(ref, img, remote.WithRetryStatusCodes(), remote.WithRetryPredicate(func(error) bool { return false }))
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("push with a broken journal: err = %v, want an HTTP 500", err)
	}
}

// push writes an image or index to every ref with ggcr's client.
func push(t *testing.T, x remote.Taggable, refs ...string) {
	t.Helper()
	for _, s := range refs {
		ref, err := name.ParseReference(s)
		if err != nil {
			t.Fatal(err)
		}
		switch v := x.(type) {
		case v1.ImageIndex:
			err = remote.WriteIndex(ref, v)
		case v1.Image:
			err = remote.Write(ref, v)
		}
		if err != nil {
			t.Fatalf("pushing %s: %v", s, err)
		}
	}
}
