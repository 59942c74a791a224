package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// TestConnsSettingsDiffer: a transport made with a Conns from a config
// whose network settings differ (here the request timeout) gets
// connections of its own.
func TestConnsSettingsDiffer(t *testing.T) {
	var opened atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	conns := NewConns()
	for i, timeout := range []time.Duration{time.Minute, time.Minute, 2 * time.Minute} {
		rt, err := NewTransport(TransportConfig{Conns: conns, RequestTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: rt}).Get(s.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := []int64{1, 1, 2}[i]; opened.Load() != want {
			t.Errorf("after transport %d: %d connections, want %d", i+1, opened.Load(), want)
		}
	}
}

// TestConnsRedirectNeverReusesRegistryConn: a redirect off the registry to
// a host the command already talks to (a loopback one here) is dialled
// anew under the private-address guard and refused; it never takes an
// idle connection opened for a registry request, also when the host is
// one whose certificate is not verified (a pool of its own).
func TestConnsRedirectNeverReusesRegistryConn(t *testing.T) {
	for _, skipVerify := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip-tls-verify=%t", skipVerify), func(t *testing.T) { redirectNeverReuses(t, skipVerify) })
	}
}

func redirectNeverReuses(t *testing.T, skipVerify bool) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(other.Close)
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/storage/blob", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(reg.Close)
	cfg := TransportConfig{Conns: NewConns()}
	if skipVerify {
		cfg.SkipTLSVerify = []string{strings.TrimPrefix(other.URL, "http://")}
	}
	for _, step := range []string{"a request to the other host as a registry", "a redirect to it"} {
		rt, err := NewTransport(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: rt}
		if step == "a redirect to it" {
			_, err := c.Get(reg.URL + "/v2/r/blobs/sha256:0")
			if !errors.Is(err, ErrPrivateAddress) {
				t.Fatalf("%s: err = %v, want %v", step, err, ErrPrivateAddress)
			}
			continue
		}
		resp, err := c.Get(other.URL + "/v2/")
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		resp.Body.Close()
	}
	if hits.Load() != 1 {
		t.Errorf("%d requests reached the other host, want 1 (the registry request)", hits.Load())
	}
}
