package compose

import (
	"context"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestLocalRegistry_Persists: tags, manifests (an index too) and blobs
// survive a restart; deletes too.
func TestLocalRegistry_Persists(t *testing.T) {
	dir := t.TempDir()
	start := func() (*LocalRegistry, string, func()) {
		r, err := NewLocalRegistry(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(r)
		return r, strings.TrimPrefix(s.URL, "http://"), func() { s.Close(); r.Close() }
	}
	_, host, stop := start()
	img := randomLinuxImage(t, 2)
	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	pushTo(t, Artifact{Image: img}, host+"/dev/app:v1", host+"/dev/app:gone")
	pushTo(t, Artifact{Index: idx}, host+"/dev/multi:v1")
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
	if got := validateRemote(t, host+"/dev/app:v1"); got != d {
		t.Errorf("after restart: %s, want %s", got, d)
	}
	di, _ := idx.Digest()
	if got := validateRemote(t, host+"/dev/multi:v1"); got != di {
		t.Errorf("index after restart: %s, want %s", got, di)
	}
	repo, _ := name.NewRepository(host + "/dev/app")
	tags, err := ListTags(context.Background(), repo)
	if err != nil || !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("tags after restart = %q, %v", tags, err)
	}
}

func TestServeLocalRegistry(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- ServeLocalRegistry(ctx, "127.0.0.1:0", t.TempDir(), nil, func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("registry did not start")
	}
	pushTo(t, Artifact{Image: randomLinuxImage(t, 1)}, addr.String()+"/a/b:c")
	validateRemote(t, addr.String()+"/a/b:c")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
