package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry"
)

// registryFlags are the transport flags of every command that talks to a
// registry.
type registryFlags struct {
	insecure       []string
	skipVerify     []string
	privRedirect   []string
	caFile         string
	timeout        time.Duration
	requestTimeout time.Duration
	retryBackoff   time.Duration
	debug          bool

	// stderr is the command's stderr, serialised: the debug log and the
	// progress lines are written from many goroutines.
	stderr io.Writer
	// cfg is the policy made from these flags by composeOptions.
	cfg registry.TransportConfig
}

func (f *registryFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringArrayVar(&f.insecure, "insecure-registry", nil, "allow plain HTTP to `HOST[:PORT]` (repeatable; also $STRATA_INSECURE_REGISTRIES, comma-separated); loopback always may")
	fl.StringArrayVar(&f.privRedirect, "allow-private-redirect", nil, "let a registry redirect to `HOST[:PORT]` although it resolves to a private or loopback address (repeatable; on-premises storage)")
	fl.StringArrayVar(&f.skipVerify, "skip-tls-verify", nil, "do not verify the TLS certificate of `HOST[:PORT]` (repeatable; insecure, warns)")
	fl.StringVar(&f.caFile, "ca-file", "", "trust the PEM certificates in `FILE` too")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Minute, "give up on the whole command after this long")
	fl.DurationVar(&f.requestTimeout, "request-timeout", time.Minute, "give up on a request whose response has not started after this long")
	fl.DurationVar(&f.retryBackoff, "retry-backoff", time.Second, "wait before the first retry of a failed request (tripled for the next; 3 attempts in all)")
	fl.BoolVar(&f.debug, "debug", false, "log every HTTP request to stderr (credentials, tokens and signed URLs are redacted)")
}

// transportConfig turns the flags and the environment into the registry
// access policy. Credentials come from the docker config through ggcr's
// default keychain ($DOCKER_CONFIG/config.json or ~/.docker/config.json);
// a credential helper named there is the only program strata ever starts.
func (a *app) transportConfig(f *registryFlags) (registry.TransportConfig, error) {
	f.stderr = &lockedWriter{w: a.stderr}
	if a.secrets == nil {
		a.secrets = registry.NewSecrets()
	}
	cfg := registry.TransportConfig{
		Secrets:              a.secrets,
		Pings:                registry.NewPings(),
		Conns:                registry.NewConns(),
		Keychain:             authn.DefaultKeychain,
		CredentialsFrom:      a.dockerConfigPath(),
		SkipTLSVerify:        f.skipVerify,
		PrivateRedirectHosts: f.privRedirect,
		CAFile:               f.caFile,
		RequestTimeout:       f.requestTimeout,
		Backoff:              f.retryBackoff,
		UserAgent:            "strata",
	}
	if f.requestTimeout <= 0 {
		return cfg, usagef("--request-timeout must be positive, got %s", f.requestTimeout)
	}
	if f.retryBackoff <= 0 {
		return cfg, usagef("--retry-backoff must be positive, got %s", f.retryBackoff)
	}
	if f.timeout <= 0 {
		return cfg, usagef("--timeout must be positive, got %s", f.timeout)
	}
	cfg.InsecureRegistries = append(cfg.InsecureRegistries, f.insecure...)
	if v, ok := a.lookupEnv("STRATA_INSECURE_REGISTRIES"); ok {
		cfg.InsecureRegistries = append(cfg.InsecureRegistries, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	for _, h := range f.skipVerify {
		fmt.Fprintf(a.stderr, "strata: warning: not verifying the TLS certificate of %s (--skip-tls-verify)\n", h)
	}
	if f.debug {
		cfg.Logger = slog.New(slog.NewTextHandler(redactWriter{w: f.stderr, secrets: a.secrets}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f.cfg = cfg
	return cfg, nil
}

// dockerConfigPath says where the default keychain reads credentials:
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json (and the
// credential helpers that file names), noting a file that does not exist.
func (a *app) dockerConfigPath() string {
	var p string
	if d, ok := a.lookupEnv("DOCKER_CONFIG"); ok && d != "" {
		p = filepath.Join(d, "config.json")
	} else if home, ok := a.lookupEnv("HOME"); ok && home != "" {
		p = filepath.Join(home, ".docker", "config.json")
	} else {
		return ""
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return p + ", which does not exist"
	}
	return p
}

// registryRef returns the registry access policy of f and the reference
// arg, parsed by that policy (insecure registries); a bad reference is a
// usage error.
func (a *app) registryRef(f *registryFlags, arg string) (registry.TransportConfig, name.Reference, error) {
	cfg, err := a.transportConfig(f)
	if err != nil {
		return cfg, nil, err
	}
	ref, err := cfg.ParseReference(arg)
	if err != nil {
		return cfg, nil, usagef("reference %q: %v", arg, err)
	}
	return cfg, ref, nil
}

// withTimeout applies --timeout to ctx.
func (f *registryFlags) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.timeout)
}

// redactWriter scrubs secrets from everything written through it: by
// shape, and by value those strata obtained.
type redactWriter struct {
	w       io.Writer
	secrets *registry.Secrets
}

func (r redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, r.secrets.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lockedWriter serialises writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// redacted wraps a registry error so its message carries no secrets, while
// errors.Is/As still see the cause. A deadline says which flag set it.
func redacted(err error, f *registryFlags) error {
	if err == nil {
		return nil
	}
	if errs := joined(err); len(errs) > 1 {
		// Several specs failed: each stays its own error.
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = redacted(e, f)
		}
		return errors.Join(out...)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (--timeout %s)", err, f.timeout)
	}
	// A 401 or 403 says which credentials were missing or rejected.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = registry.ExplainAuth(ctx, err, f.cfg)
	return redactedError{err: err, secrets: f.cfg.Secrets}
}

type redactedError struct {
	err     error
	secrets *registry.Secrets
}

func (e redactedError) Error() string { return e.secrets.Redact(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }
