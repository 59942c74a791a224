// Package testregistry starts Debian's docker-registry (distribution 2.8,
// /usr/bin/docker-registry) for tests: on a free 127.0.0.1 port, with
// storage in a temporary directory and deletes enabled. Tests fail, never
// skip, when the binary is missing (`make tools` installs it).
//
// strata's rule is that only _test.go files start programs, so this package
// does not import os/exec: the caller's test file passes a Launcher.
package testregistry

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Binary is the registry program.
const Binary = "docker-registry"

// Registry is a running docker-registry.
type Registry struct {
	// Host is 127.0.0.1:PORT.
	Host string
	// Dir holds the config, the storage and the log.
	Dir string
}

// Option adjusts the registry config.
type Option func(*config)

type config struct {
	deletes  bool
	htpasswd string
}

// WithoutDeletes leaves deletes disabled (the registry answers 405).
func WithoutDeletes() Option { return func(c *config) { c.deletes = false } }

// WithHTPasswd requires basic auth checked against an htpasswd file
// (bcrypt entries).
func WithHTPasswd(content string) Option { return func(c *config) { c.htpasswd = content } }

// TB is the part of testing.TB that Start needs (testscript setups adapt
// to it).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

var _ TB = (testing.TB)(nil)

// Process is a started program.
type Process interface {
	Wait() error
	Kill() error
}

// Launcher starts program bin with args, its stdout and stderr going to log.
type Launcher func(bin string, args []string, log *os.File) (Process, error)

// Start runs a registry for the rest of the test and stops it at cleanup.
func Start(t TB, launch Launcher, opts ...Option) *Registry {
	t.Helper()
	bin, err := lookPath(Binary)
	if err != nil {
		t.Fatalf("testregistry: %s not found (install the Debian package docker-registry; `make tools` does): %v", Binary, err)
	}
	c := &config{deletes: true}
	for _, o := range opts {
		o(c)
	}
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatalf("testregistry: %v", err)
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&cfg, "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: %t\n", filepath.Join(dir, "storage"), c.deletes)
	fmt.Fprintf(&cfg, "http:\n  addr: %s\n  secret: testregistry\n", host)
	if c.htpasswd != "" {
		hp := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(hp, []byte(c.htpasswd), 0o600); err != nil {
			t.Fatalf("testregistry: %v", err)
		}
		fmt.Fprintf(&cfg, "auth:\n  htpasswd:\n    realm: test\n    path: %s\n", hp)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o644); err != nil {
		t.Fatalf("testregistry: %v", err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatalf("testregistry: %v", err)
	}
	proc, err := launch(bin, []string{"serve", cfgPath}, logf)
	if err != nil {
		t.Fatalf("testregistry: starting %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { proc.Wait(); close(exited) }()
	t.Cleanup(func() {
		proc.Kill()
		<-exited
		logf.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return &Registry{Host: host, Dir: dir}
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("testregistry: %s exited early:\n%s", bin, log)
		case <-ctx.Done():
			t.Fatalf("testregistry: %s did not answer on %s within 15s", bin, host)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lookPath finds an executable file named name in $PATH.
func lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not in $PATH", name)
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
