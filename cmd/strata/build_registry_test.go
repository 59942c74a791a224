package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildBaseRegistryTimeout checks that build and plan pull bases through
// the same registry policy as push: a registry that never answers ends the
// command at --timeout with exit 1 and a message naming the flag, and nothing
// is written.
func TestBuildBaseRegistryTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // hang until the test ends
	}))
	defer srv.Close()
	defer close(release)

	dir := t.TempDir()
	host := strings.TrimPrefix(srv.URL, "http://")
	spec := "base: " + host + "/team/base:v1\n"
	if err := os.WriteFile(filepath.Join(dir, "image.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, cmd := range []string{"build", "plan"} {
		args := []string{cmd, "--cache-dir", filepath.Join(dir, "cache"), "--timeout", "1s", "--request-timeout", "30s", "image.yaml"}
		if cmd == "build" {
			args = append(args, "--oci", out)
		}
		code, stdout, stderr := runStrata(t, dir, []string{"HOME=" + dir}, args...)
		if code != exitFailure {
			t.Fatalf("%s: exit %d, want %d; stderr:\n%s", cmd, code, exitFailure, stderr)
		}
		if stdout != "" {
			t.Errorf("%s: stdout = %q, want nothing", cmd, stdout)
		}
		if !strings.Contains(stderr, "--timeout 1s") || !strings.Contains(stderr, host) {
			t.Errorf("%s: stderr = %q, want the registry %s and the --timeout flag named", cmd, stderr, host)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output %s exists after a failed build (err %v)", out, err)
	}
}
