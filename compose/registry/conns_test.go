package registry

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose/oci"
)

// TestConnsShared: the transports a command makes from one config with
// Conns (ggcr's remote options for base pulls and cache lookups, a push's
// own) reuse one pool of connections: reads, then a push, then reads
// again, one after the other, open one connection in all (and one for
// the https attempt a loopback registry answers in plain HTTP, made once
// with Pings). Without Conns, each transport opens its own.
func TestConnsShared(t *testing.T) {
	s := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	var opened atomic.Int64
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Start()
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, host+"/conns/base:1"), img); err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(host + "/conns/base")
	for _, tc := range []struct {
		conns *Conns
		want  int64
	}{{nil, 1 + 3}, {NewConns(), 1 + 1}} {
		s.CloseClientConnections()
		opened.Store(0)
		cfg := TransportConfig{Conns: tc.conns, Pings: NewPings()}
		list := func() {
			t.Helper()
			ropts, err := RemoteOptions(cfg) // a transport of its own
			if err != nil {
				t.Fatal(err)
			}
			if _, err := remote.List(repo, append(ropts, remote.WithContext(context.Background()))...); err != nil {
				t.Fatal(err)
			}
		}
		list()
		if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/conns/app:v1")}},
			PushOptions{Transport: cfg, Jobs: 1}); err != nil {
			t.Fatal(err)
		}
		list()
		if got := opened.Load(); got != tc.want {
			t.Errorf("Conns %v: %d connections opened, want %d", tc.conns != nil, got, tc.want)
		}
	}
}
