package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/faultproxy"
)

// TestCLI_EchoedSecretsRedacted (issue 13 point 2): a registry whose error
// bodies repeat the password, the bearer token and user:password in base64,
// none in a Bearer/Basic/JSON shape, gets none of them printed by copy,
// push or inspect, with or without --debug.
func TestCLI_EchoedSecretsRedacted(t *testing.T) {
	const user, pass, token = "alice", "Plain-Pass-9f2k", "tok-ab12cd34ef"
	_, src := cliRegistry(t)
	p, host := cliRegistry(t)
	dockerConfig(t, map[string]string{host: user + ":" + pass})
	p.RequireAuth(user, pass, token)
	echo := "the registry says: password " + pass + " is wrong; token " + token +
		" expired; auth " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + " refused"
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Status: 400, Body: echo}})
	p.Add(&faultproxy.Rule{Method: "GET", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Status: 403, Body: echo}})
	spec := filepath.Join(t.TempDir(), "image.yaml")
	if err := os.WriteFile(spec, []byte("base: scratch\nconfig:\n  env: {A: b}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var all string
	for _, args := range [][]string{
		{"copy", "--retry-backoff", "1ms", src + "/fixtures/img:1", host + "/echo/app:v1"},
		{"copy", "--debug", "--retry-backoff", "1ms", src + "/fixtures/img:1", host + "/echo/app:v1"},
		{"push", "--retry-backoff", "1ms", "--tag", host + "/echo/app:v2", spec},
		{"push", "--debug", "--retry-backoff", "1ms", "--tag", host + "/echo/app:v2", spec},
		{"inspect", host + "/echo/app:v1"},
		{"inspect", "--debug", host + "/echo/app:v1"},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", strings.Join(args, " "), code, errOut)
		}
		if !strings.Contains(errOut, "the registry says: password REDACTED is wrong; token REDACTED expired; auth REDACTED refused") {
			t.Errorf("%s: the registry's message is not shown scrubbed:\n%s", strings.Join(args, " "), errOut)
		}
		all += out + errOut
	}
	for _, secret := range []string{pass, token, base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))} {
		if strings.Contains(all, secret) {
			t.Errorf("%q leaked:\n%s", secret, all)
		}
	}
}

// writeHelper installs docker-credential-NAME running script for host in a
// temporary PATH and DOCKER_CONFIG.
func writeHelper(t *testing.T, host, script string) {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credHelpers":{"`+host+`":"fake"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

// TestCLI_FailingHelperOutputHidden (issue 13 point 2): what a failing
// credential helper prints is not shown; the error says it failed.
func TestCLI_FailingHelperOutputHidden(t *testing.T) {
	_, src := cliRegistry(t)
	_, host := cliRegistry(t)
	// What the helper writes to stderr goes straight to the terminal (the
	// helper library hands it the process's stderr); strata prints only
	// what it was given: the helper's stdout, in the library's error.
	writeHelper(t, host, "echo 'token=HELPER-OUT-SEKRET'\nexit 1\n")
	for _, debug := range []string{"--debug=false", "--debug"} {
		code, out, errOut := runCLI(t, "copy", debug, src+"/fixtures/img:1", host+"/helper/app:v1")
		if code != 1 || !strings.Contains(errOut, "(the helper's output is not shown)") {
			t.Errorf("%s: exit %d\n%s", debug, code, errOut)
		}
		if strings.Contains(out+errOut, "SEKRET") {
			t.Errorf("%s: helper output leaked:\n%s%s", debug, out, errOut)
		}
	}
}

// TestCLI_HangingHelperTimeout (issue 13 point 5): a credential helper that
// never answers does not hold strata past --timeout.
func TestCLI_HangingHelperTimeout(t *testing.T) {
	_, src := cliRegistry(t)
	_, host := cliRegistry(t)
	writeHelper(t, host, "exec sleep 30 2>/dev/null\n")
	start := time.Now()
	code, _, errOut := runCLI(t, "copy", "--timeout", "1s", src+"/fixtures/img:1", host+"/helper/app:v1")
	if code != 1 || !strings.Contains(errOut, "the credential helper did not answer in time") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("gave up after %v; want about 1s", d)
	}
}
