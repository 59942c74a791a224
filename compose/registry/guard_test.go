package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

// hitCounter is an HTTP server on 127.0.0.1 that counts the requests
// reaching it; it returns the server's port.
func hitCounter(t *testing.T) (*atomic.Int32, string) {
	t.Helper()
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(other.Close)
	_, port, _ := strings.Cut(strings.TrimPrefix(other.URL, "http://"), ":")
	return &hits, port
}

// TestFault_HostileLocationByName: an upload Location naming another host
// or port by a name (localhost) is refused like an IP literal (issue 13
// point 3): uploads stay on the registry.
func TestFault_HostileLocationByName(t *testing.T) {
	p, host := pushRegistry(t)
	hits, port := hitCounter(t)
	p.RewriteLocation(func(l string) string {
		i := strings.Index(l, "/v2/")
		return "http://localhost:" + port + l[i:]
	})
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/ssrf:v1")}}, PushOptions{Transport: fastRetries()})
	if err == nil || !strings.Contains(err.Error(), "refusing upload location on another host localhost:"+port+": uploads must stay on the registry "+host) {
		t.Fatalf("err = %v", err)
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the other host", hits.Load())
	}
}

// TestFault_RedirectToPrivateName: a redirect to another host whose name
// resolves to a loopback address is refused when it is dialled, for push
// (HEAD blob) and for pulls through ggcr (GET manifest), without a retry
// and before any request reaches it (issue 13 point 3).
func TestFault_RedirectToPrivateName(t *testing.T) {
	for _, tc := range []struct{ name, method, path string }{
		{"push HEAD blob", "HEAD", `/blobs/sha256:`},
		{"pull GET manifest", "GET", `/manifests/v1$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, host := pushRegistry(t)
			hits, port := hitCounter(t)
			img := fixture.LinuxImage(t, 1)
			if tc.method == "GET" {
				if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/redir:v1")}}, PushOptions{Transport: fastRetries()}); err != nil {
					t.Fatal(err)
				}
			}
			p.Add(&faultproxy.Rule{Method: tc.method, Path: faultproxy.PathRe(tc.path), Action: faultproxy.Action{
				Status: http.StatusTemporaryRedirect, Headers: map[string]string{"Location": "http://localhost:" + port + "/x"}}})
			var err error
			if tc.method == "GET" {
				opts, oerr := RemoteOptions(fastRetries())
				if oerr != nil {
					t.Fatal(oerr)
				}
				ref, _ := name.ParseReference(host + "/f/redir:v1")
				_, err = remote.Image(ref, append(opts, remote.WithContext(context.Background()))...)
			} else {
				_, err = Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/redir:v1")}}, PushOptions{Transport: fastRetries()})
			}
			if !errors.Is(err, ErrPrivateAddress) || !strings.Contains(err.Error(), "localhost resolves to 127.0.0.1; a redirect may leave the registry only for a public address (or a host allowed with --allow-private-redirect)") {
				t.Fatalf("err = %v; want ErrPrivateAddress", err)
			}
			if hits.Load() != 0 {
				t.Errorf("%d requests reached the other host", hits.Load())
			}
		})
	}
}

// TestFault_RedirectToAllowedPrivateHost: a host named in
// PrivateRedirectHosts may be redirected to although it is loopback.
func TestFault_RedirectToAllowedPrivateHost(t *testing.T) {
	p, host := pushRegistry(t)
	hits, port := hitCounter(t)
	img := fixture.LinuxImage(t, 1)
	pushTo(t, oci.Artifact{Image: img}, host+"/f/allowed:v1")
	p.Add(&faultproxy.Rule{Method: "GET", Path: faultproxy.PathRe(`/manifests/v1$`), Action: faultproxy.Action{
		Status: http.StatusTemporaryRedirect, Headers: map[string]string{"Location": "http://localhost:" + port + "/x"}}})
	cfg := fastRetries()
	cfg.PrivateRedirectHosts = []string{"localhost:" + port}
	opts, err := RemoteOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/f/allowed:v1")
	_, err = remote.Image(ref, append(opts, remote.WithContext(context.Background()))...)
	if errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("err = %v; the host was allowed", err)
	}
	if hits.Load() == 0 {
		t.Error("the allowed host was never reached")
	}
}

// TestGuardDial pins which resolved addresses a redirect off the registry
// may connect to.
func TestGuardDial(t *testing.T) {
	ctx := context.WithValue(context.Background(), offRegistryKey{}, "evil.example")
	for addr, ok := range map[string]bool{
		"127.0.0.1:80": false, "127.0.0.2:80": false, "10.0.0.1:443": false, "192.168.1.1:443": false,
		"169.254.169.254:80": false, "[::1]:80": false, "[fe80::1]:80": false, "0.0.0.0:80": false,
		"[::ffff:127.0.0.1]:80": false, "[fd00::1]:443": false, "8.8.8.8:443": true, "[2001:4860:4860::8888]:443": true,
	} {
		if err := guardDial(ctx, "tcp", addr, nil); (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok=%v", addr, err, ok)
		}
		if err := guardDial(context.Background(), "tcp", addr, nil); err != nil {
			t.Errorf("%s, the registry itself: %v", addr, err)
		}
	}
}

// TestCAFileFIFO (issue 13 point 5): a FIFO given as --ca-file is refused
// at once instead of hanging.
func TestCAFileFIFO(t *testing.T) {
	p := t.TempDir() + "/ca.pem"
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := NewTransport(TransportConfig{CAFile: p})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || err.Error() != "CA file "+p+": not a regular file" {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("NewTransport hangs on a FIFO")
	}
}

// TestMarkRedirect: a request is marked (dialled only to public addresses)
// when the chain of redirects it ends has left the host it started at,
// a second hop on the same outside host included; a hop back to the
// registry, and a host allowed with --allow-private-redirect, are not.
func TestMarkRedirect(t *testing.T) {
	chain := func(urls ...string) *http.Request {
		var prev *http.Request
		for _, u := range urls {
			r := httptest.NewRequest("GET", u, nil)
			if prev != nil {
				r.Response = &http.Response{Request: prev}
			}
			prev = r
		}
		return prev
	}
	tp := &policyTransport{cfg: TransportConfig{PrivateRedirectHosts: []string{"store.internal:9000"}}}
	for _, tc := range []struct {
		urls   []string
		marked bool
	}{
		{[]string{"https://reg.example/v2/"}, false},
		{[]string{"https://reg.example/a", "https://reg.example/b"}, false},
		{[]string{"https://reg.example/a", "https://cdn.example/b"}, true},
		{[]string{"https://reg.example/a", "https://cdn.example/b", "https://cdn.example/c"}, true},
		{[]string{"https://reg.example/a", "https://cdn.example/b", "https://reg.example/c"}, false},
		{[]string{"https://reg.example/a", "http://store.internal:9000/b"}, false},
	} {
		_, marked := tp.markRedirect(chain(tc.urls...)).Context().Value(offRegistryKey{}).(string)
		if marked != tc.marked {
			t.Errorf("%v: marked %t, want %t", tc.urls, marked, tc.marked)
		}
	}
}
