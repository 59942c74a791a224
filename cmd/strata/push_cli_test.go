package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/strata-build/strata/internal/faultproxy"
)

// cliRegistry serves ggcr's registry behind a fault proxy holding the
// fixture image at fixtures/img:1, and points DOCKER_CONFIG at an empty
// temporary docker config (never the real home).
func cliRegistry(t *testing.T) (*faultproxy.Proxy, string) {
	t.Helper()
	p := faultproxy.New(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s := httptest.NewServer(p)
	t.Cleanup(func() { p.Close(); s.Close() })
	host := strings.TrimPrefix(s.URL, "http://")
	if err := pushFixture(host + "/fixtures/img:1"); err != nil {
		t.Fatal(err)
	}
	p.ResetLog()
	dockerConfig(t, nil)
	return p, host
}

// dockerConfig writes a docker config with auths (host → user:password)
// into a temporary DOCKER_CONFIG.
func dockerConfig(t *testing.T, auths map[string]string) {
	t.Helper()
	dir := t.TempDir()
	var entries []string
	for h, userpass := range auths {
		entries = append(entries, fmt.Sprintf("%q:{\"auth\":%q}", h, base64.StdEncoding.EncodeToString([]byte(userpass))))
	}
	cfg := fmt.Sprintf(`{"auths":{%s}}`, strings.Join(entries, ","))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("HOME", t.TempDir())
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := append(os.Environ(), "STRATA_INSECURE_REGISTRIES=")
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb, env)
	return code, out.String(), errb.String()
}

// TestCLI_NoSecretLeak (H12): basic-auth credentials from DOCKER_CONFIG,
// traded for a bearer token, and upload locations signed with
// ?X-Amz-Signature=SEKRET: with --debug, no secret reaches stdout or stderr,
// on success or on failure.
func TestCLI_NoSecretLeak(t *testing.T) {
	_, src := cliRegistry(t)
	_, src2 := cliRegistry(t)
	p, host := cliRegistry(t)
	dockerConfig(t, map[string]string{host: "alice:PASSWORDSEKRET"})
	p.RequireAuth("alice", "PASSWORDSEKRET", "TOKENSEKRET")
	p.RewriteLocation(func(l string) string {
		sep := "?"
		if strings.Contains(l, "?") {
			sep = "&"
		}
		return l + sep + "X-Amz-Signature=SEKRET&token=SEKRET"
	})
	code, out, errOut := runCLI(t, "copy", "--debug", src+"/fixtures/img:1", host+"/leak/app:v1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "X-Amz-Signature=REDACTED") || !strings.Contains(errOut, "status=201") {
		t.Errorf("debug log does not show the redacted requests:\n%s", errOut)
	}
	// A failing upload puts the signed URL in the error message.
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/blobs/uploads/`), Action: faultproxy.Action{Status: 400, Code: "DIGEST_INVALID"}})
	code2, out2, errOut2 := runCLI(t, "copy", "--debug", src2+"/fixtures/img:1", host+"/leak/app:v2")
	if code2 != 1 || !strings.Contains(errOut2, "uploading blob") {
		t.Errorf("failing copy: exit %d\n%s", code2, errOut2)
	}
	all := out + errOut + out2 + errOut2
	for _, secret := range []string{"SEKRET", "PASSWORD", "YWxpY2U6"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q leaked:\n%s", secret, all)
		}
	}
	if p.Count("GET", `^/token`, 200) == 0 {
		t.Error("no token issued: auth was not exercised")
	}
}

// TestCLI_FailedUploadNoSecret: the error of a failed push names the
// registry, repository and step, and carries no signature.
func TestCLI_FailedUploadNoSecret(t *testing.T) {
	p, host := cliRegistry(t)
	// The source lives in another registry (pkg/registry shares blobs
	// between its repositories, so a copy within one would upload nothing).
	_, src := cliRegistry(t)
	p.RewriteLocation(func(l string) string { return l + "&X-Amz-Signature=SEKRET" })
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/blobs/uploads/`), Action: faultproxy.Action{Status: 400, Code: "DIGEST_INVALID"}})
	code, _, errOut := runCLI(t, "copy", "--debug", src+"/fixtures/img:1", host+"/other/app:v1")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "strata: copying to "+host+"/other/app:v1: "+host+"/other/app: uploading blob sha256:") {
		t.Errorf("error does not name registry, repository and step:\n%s", errOut)
	}
	if strings.Contains(errOut, "SEKRET") {
		t.Errorf("signature leaked:\n%s", errOut)
	}
	if p.Count("PUT", `/manifests/`, 0) != 0 {
		t.Error("a manifest or tag was written after failed uploads")
	}
}

// TestCLI_Timeout: a registry that hangs on the manifest PUT makes the
// command exit 1 with a timeout error once --timeout has passed.
func TestCLI_Timeout(t *testing.T) {
	p, host := cliRegistry(t)
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Hang: true}})
	start := time.Now()
	code, _, errOut := runCLI(t, "copy", "--timeout", "700ms", host+"/fixtures/img:1", host+"/hang/app:v1")
	if code != 1 || !strings.Contains(errOut, "context deadline exceeded (--timeout 700ms)") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	t.Logf("gave up after %v", time.Since(start))
}

// TestCLI_InsecureFlag: plain HTTP to a non-loopback registry is refused
// unless named; bad durations are usage errors.
func TestCLI_InsecureFlag(t *testing.T) {
	code, _, errOut := runCLI(t, "tags", "--request-timeout", "0s", "127.0.0.1:1/a")
	if code != 2 || !strings.Contains(errOut, "--request-timeout must be positive") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "tags", "--skip-tls-verify", "127.0.0.1:1", "--timeout", "2s", "127.0.0.1:1/a")
	if code != 1 || !strings.Contains(errOut, "warning: not verifying the TLS certificate of 127.0.0.1:1") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// TestCLI_PartialPushThenRerun: a permanent 500 on the manifest PUT exits 1
// with no tag; the rerun succeeds without uploading any blob again.
func TestCLI_PartialPushThenRerun(t *testing.T) {
	p, host := cliRegistry(t)
	_, src := cliRegistry(t)
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Status: 500}})
	code, _, errOut := runCLI(t, "copy", "--retry-backoff", "1ms", src+"/fixtures/img:1", host+"/part/app:v1")
	if code != 1 || !strings.Contains(errOut, host+"/part/app: pushing manifest sha256:") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if n := p.Count("GET", `/manifests/v1$`, 200) + p.Count("PUT", `/manifests/v1$`, 0); n != 0 {
		t.Errorf("the tag was touched %d times", n)
	}
	uploads := p.Count("PUT", `/blobs/uploads/`, 0)
	p.Clear()
	p.ResetLog()
	code, out, errOut := runCLI(t, "copy", "--json", src+"/fixtures/img:1", host+"/part/app:v1")
	if code != 0 {
		t.Fatalf("rerun: exit %d:\n%s", code, errOut)
	}
	if n := p.Count("PUT", `/blobs/uploads/`, 0); n != 0 || uploads != 3 {
		t.Errorf("first run uploaded %d blobs, the rerun %d more", uploads, n)
	}
	if !strings.Contains(out, `"blobsUploaded":0,"blobsMounted":0,"blobsSkipped":3`) || !strings.Contains(out, `"status":"created"`) {
		t.Errorf("rerun report: %s", out)
	}
}

// TestCLI_CredentialHelper: a credHelpers entry makes strata run
// docker-credential-NAME for that registry only; what it prints never shows
// up in strata's output, --debug included.
func TestCLI_CredentialHelper(t *testing.T) {
	_, src := cliRegistry(t)
	p, host := cliRegistry(t)
	p.RequireAuth("bob", "HELPERSEKRET", "TOKENSEKRET")
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	script := "#!/bin/sh\nread reg\necho \"$1 $reg\" >> " + calls + "\n" +
		"echo '{\"ServerURL\":\"'$reg'\",\"Username\":\"bob\",\"Secret\":\"HELPERSEKRET\"}'\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credHelpers":{"`+host+`":"fake"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	code, out, errOut := runCLI(t, "copy", "--debug", src+"/fixtures/img:1", host+"/helper/app:v1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("the helper was never run: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "get "+host {
			t.Errorf("helper call %q, want only %q", line, "get "+host)
		}
	}
	if strings.Contains(out+errOut, "SEKRET") {
		t.Errorf("helper output leaked:\n%s%s", out, errOut)
	}
}
