package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

// Faults of access: plain HTTP, TLS, credentials and tokens.

// TestFault_InsecureGate: plain HTTP goes only to loopback and to listed
// registries; nothing is sent to a refused host.
func TestFault_InsecureGate(t *testing.T) {
	for _, tc := range []struct {
		url      string
		insecure []string
		ok       bool
	}{
		{"http://127.0.0.1:5000/v2/", nil, true},
		{"http://[::1]:5000/v2/", nil, true},
		{"http://localhost:5000/v2/", nil, true},
		{"http://10.1.2.3:5000/v2/", nil, false},
		{"http://172.20.0.1:5000/v2/", nil, false},
		{"http://192.168.1.1/v2/", nil, false},
		{"http://registry.localhost:5000/v2/", nil, false},
		{"http://registry.example/v2/", nil, false},
		{"http://10.1.2.3:5000/v2/", []string{"10.1.2.3:5000"}, true},
		{"http://10.1.2.3:5000/v2/", []string{"10.1.2.3"}, true},
		{"http://10.1.2.3:5000/v2/", []string{"10.1.2.4"}, false},
		{"https://10.1.2.3:5000/v2/", nil, true},
	} {
		s := &spyTransport{}
		rt, err := NewTransport(TransportConfig{Base: s, InsecureRegistries: tc.insecure})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", tc.url, nil)
		_, err = rt.RoundTrip(req)
		if tc.ok != (err == nil) || tc.ok != (len(s.urls) == 1) {
			t.Errorf("%s (insecure %v): err %v, sent %d", tc.url, tc.insecure, err, len(s.urls))
		}
		if !tc.ok && (!errors.Is(err, ErrPlainHTTP) || !strings.Contains(err.Error(), "--insecure-registry")) {
			t.Errorf("%s: err = %v", tc.url, err)
		}
	}
}

// userPassKeychain answers every registry with one username and password.
type userPassKeychain struct{ user, pass string }

func (k userPassKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.pass}), nil
}

// TestFault_NoSecretLeak: with debug logging, neither the password, the
// bearer token nor signed query strings reach the log or the error.
func TestFault_NoSecretLeak(t *testing.T) {
	p, host := pushRegistry(t)
	p.RequireAuth("alice", "PASSWORDSEKRET", "TOKENSEKRET")
	p.RewriteLocation(func(l string) string {
		sep := "?"
		if strings.Contains(l, "?") {
			sep = "&"
		}
		return l + sep + "X-Amz-Signature=SEKRET&token=SEKRET"
	})
	var logBuf bytes.Buffer
	cfg := fastRetries()
	cfg.Keychain = userPassKeychain{"alice", "PASSWORDSEKRET"}
	cfg.Logger = slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	img := fixture.LinuxImage(t, 1)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/auth:v1")}}, PushOptions{Transport: cfg}); err != nil {
		t.Fatal(err)
	}
	// A failing upload puts the signed URL into an error.
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/blobs/uploads/`), Action: faultproxy.Action{Status: 400, Code: "BLOB_UPLOAD_UNKNOWN"}})
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/auth:v2")}}, PushOptions{Transport: cfg})
	if err == nil {
		t.Fatal("push through a failing upload succeeded")
	}
	out := logBuf.String() + "\n" + err.Error() + "\n" + Redact(err.Error())
	if !strings.Contains(logBuf.String(), "X-Amz-Signature=REDACTED") {
		t.Errorf("the debug log never saw the signed location:\n%s", logBuf.String())
	}
	for _, secret := range []string{"SEKRET", "PASSWORD", "TOKENSEKRET", "YWxpY2U6"} {
		if strings.Contains(logBuf.String(), secret) || strings.Contains(Redact(err.Error()), secret) {
			t.Errorf("%q leaked:\n%s", secret, out)
		}
	}
	if p.Count("GET", `^/token`, 200) == 0 {
		t.Error("no token was issued: auth was not exercised")
	}
}

// TestFault_TLS: an unknown CA fails with a certificate error; --ca-file or
// skip-verify make it work.
func TestFault_TLS(t *testing.T) {
	s := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "https://")
	// 127.0.0.1 is tried over https first; the http fallback fails too.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert, err := x509.ParseCertificate(s.TLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
	img := fixture.LinuxImage(t, 1)
	push := func(cfg TransportConfig) error {
		_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/tls/app:v1")}}, PushOptions{Transport: cfg})
		return err
	}
	if err := push(fastRetries()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: err = %v", err)
	}
	cfg := fastRetries()
	cfg.CAFile = caFile
	if err := push(cfg); err != nil {
		t.Errorf("with CA file: %v", err)
	}
	cfg = fastRetries()
	cfg.SkipTLSVerify = []string{host}
	if err := push(cfg); err != nil {
		t.Errorf("with skip-verify: %v", err)
	}
}

// TestFault_TokenExpiry (F7): a 401 on one upload (an expired token) makes
// the push fetch a new token and succeed.
func TestFault_TokenExpiry(t *testing.T) {
	p, host := pushRegistry(t)
	p.RequireAuth("alice", "pw", "TOKEN")
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/blobs/uploads/`), Nth: 1, Action: faultproxy.Action{Status: 401, Code: "UNAUTHORIZED",
		Headers: map[string]string{"WWW-Authenticate": `Bearer realm="http://` + host + `/token",service="faultproxy"`}}})
	cfg := fastRetries()
	cfg.Keychain = userPassKeychain{"alice", "pw"}
	img := fixture.LinuxImage(t, 2)
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/f/tok:v1")}}, PushOptions{Transport: cfg}); err != nil {
		t.Fatal(err)
	}
	if n := p.Count("GET", `^/token`, 200); n < 2 {
		t.Errorf("%d token requests, want a refresh", n)
	}
	p.RequireAuth("", "", "")
	d, _ := img.Digest()
	if fixture.ValidateRemote(t, host+"/f/tok:v1") != d {
		t.Error("wrong digest")
	}
}

// TestFault_AuthFails (F4): wrong credentials fail fast with the registry
// named and the password nowhere.
func TestFault_AuthFails(t *testing.T) {
	p, host := pushRegistry(t)
	p.RequireAuth("alice", "right", "TOKEN")
	cfg := fastRetries()
	cfg.Keychain = userPassKeychain{"alice", "WRONGSEKRET"}
	_, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: fixture.LinuxImage(t, 1)}, Tags: tagsOf(t, host+"/f/auth:v1")}}, PushOptions{Transport: cfg})
	if err == nil || !strings.HasPrefix(err.Error(), host+": authenticating: ") || strings.Contains(err.Error(), "WRONGSEKRET") {
		t.Fatalf("err = %v", err)
	}
	if n := p.Count("", `/blobs/`, 0); n != 0 {
		t.Errorf("%d blob requests after failed auth", n)
	}
}

// plainOnly answers http and fails https like a plain-HTTP server does.
type plainOnly struct{ seen []string }

func (s *plainOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	s.seen = append(s.seen, r.URL.Scheme)
	if r.URL.Scheme == "https" {
		return nil, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r, Header: http.Header{}}, nil
}

// TestFault_InsecureFallback: an https request to a listed insecure
// registry that speaks plain HTTP is sent again over http, and later
// requests go there directly; unlisted hosts never fall back.
func TestFault_InsecureFallback(t *testing.T) {
	s := &plainOnly{}
	rt, _ := NewTransport(TransportConfig{Base: s, InsecureRegistries: []string{"reg.example:5000"}})
	for range 2 {
		req, _ := http.NewRequest("GET", "https://reg.example:5000/v2/", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.Request.URL.Scheme != "http" {
			t.Fatalf("resp %v, err %v", resp, err)
		}
	}
	if got := strings.Join(s.seen, ","); got != "https,http,http" {
		t.Errorf("schemes tried: %s, want https,http,http", got)
	}
	s.seen = nil
	req, _ := http.NewRequest("GET", "https://other.example:5000/v2/", nil)
	if _, err := rt.RoundTrip(req); err == nil || strings.Join(s.seen, ",") != "https" {
		t.Errorf("unlisted host: err %v, schemes %v", err, s.seen)
	}
}
