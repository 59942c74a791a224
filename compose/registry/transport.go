package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/spec"
)

// TransportConfig is the registry access policy shared by base pulls, pushes
// and the registry chores. The zero value is usable: anonymous access, TLS
// verified against the system roots, plain HTTP only for loopback hosts.
//
// Credentials come only from Keychain. The CLI passes authn.DefaultKeychain,
// which reads the docker config ($DOCKER_CONFIG/config.json or
// ~/.docker/config.json, then podman's auth files) and may start the
// credential helper programs (docker-credential-NAME) that file names in
// credHelpers or credsStore: those helpers are the only programs strata ever
// starts.
type TransportConfig struct {
	// Keychain resolves credentials per registry; nil means anonymous.
	Keychain authn.Keychain
	// CredentialsFrom says where Keychain looks for credentials (e.g. the
	// docker config file's path), for the errors ExplainAuth writes; ""
	// leaves it unsaid.
	CredentialsFrom string
	// InsecureRegistries lists registries (host or host:port) that may be
	// reached over plain HTTP: https is tried first and a registry that does
	// not speak TLS is then used over http. Loopback hosts (localhost,
	// 127.0.0.0/8, ::1) always may; any other http:// request is refused
	// before it is sent.
	InsecureRegistries []string
	// SkipTLSVerify lists registries (host or host:port) whose TLS
	// certificates are not verified. The caller should warn about it.
	SkipTLSVerify []string
	// PrivateRedirectHosts lists hosts (host or host:port) a redirect may
	// lead to although they resolve to a private, loopback or link-local
	// address: storage on the same network as an on-premises registry
	// (e.g. a registry sending blob downloads to a MinIO host). Redirects to
	// other such addresses are refused (see guardDial).
	PrivateRedirectHosts []string
	// CAFile is a PEM bundle of extra trusted roots.
	CAFile string
	// RequestTimeout bounds connecting and waiting for response headers of
	// each request (not the transfer of a body); default 60 s.
	RequestTimeout time.Duration
	// Attempts is how many times a request or a blob upload is tried in all;
	// default 3.
	Attempts int
	// Backoff is the wait before the first retry; it triples for each further
	// retry, with 10% jitter. Default 1 s.
	Backoff time.Duration
	// MaxRetryAfter caps how long a 429's Retry-After is honoured; default
	// 60 s.
	MaxRetryAfter time.Duration
	// Logger receives one debug record per HTTP request (method, URL with
	// secrets removed, status, attempt); nil logs nothing.
	Logger *slog.Logger
	// UserAgent is sent with every request.
	UserAgent string
	// Base replaces the network transport underneath the policy (tests).
	Base http.RoundTripper
	// Secrets, when set, collects every credential handed out by Keychain
	// or sent in an Authorization header, so that messages and the debug
	// log are scrubbed of them by value (Secrets.Redact), whatever their
	// shape.
	Secrets *Secrets
	// Pings, when set, keeps each registry's ping answer for every
	// transport made from this config (see Pings).
	Pings *Pings
	// Conns, when set (and Base is not), is the connection pool of every
	// transport made from this config (see Conns).
	Conns *Conns
}

// withDefaults fills in the zero fields.
func (c TransportConfig) withDefaults() TransportConfig {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 60 * time.Second
	}
	if c.Keychain == nil {
		c.Keychain = authn.NewMultiKeychain() // anonymous
	}
	if _, ok := c.Keychain.(recordingKeychain); !ok {
		c.Keychain = recordingKeychain{inner: c.Keychain, secrets: c.Secrets}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UserAgent == "" {
		c.UserAgent = "strata"
	}
	return c
}

// insecure reports whether host (host or host:port) was named in
// InsecureRegistries.
func (c TransportConfig) insecure(host string) bool {
	return hostListed(c.InsecureRegistries, host)
}

func hostListed(list []string, host string) bool {
	h := hostOnly(host)
	for _, e := range list {
		if strings.EqualFold(e, host) || strings.EqualFold(e, h) {
			return true
		}
	}
	return false
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// isLoopback reports whether host (with or without port) is localhost or a
// loopback IP literal. Other names ending in .localhost are not trusted.
func isLoopback(host string) bool {
	h := hostOnly(host)
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ParseReference parses s like name.ParseReference, marking a registry named
// in InsecureRegistries as insecure so that ggcr may fall back to plain HTTP
// for it.
func (c TransportConfig) ParseReference(s string) (name.Reference, error) {
	if err := notLocal(s); err != nil {
		return nil, err
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, err
	}
	if err := spec.CheckRepositoryPath(ref.Context().RepositoryStr()); err != nil {
		return nil, err
	}
	if c.insecure(ref.Context().RegistryStr()) {
		return name.ParseReference(s, name.Insecure)
	}
	return ref, nil
}

// notLocal refuses oci: and docker-archive: locations where a registry
// reference is wanted (name.ParseReference would take "oci" for a host).
func notLocal(s string) error {
	for _, p := range []string{spec.LayoutPrefix, spec.ArchivePrefix} {
		if strings.HasPrefix(s, p) {
			return fmt.Errorf("%s names a local image, not a registry reference; strata copy reads it (e.g. strata copy %s REGISTRY/REPO:TAG)", p+"…", s)
		}
	}
	return nil
}

// ParseRepository parses s like name.NewRepository, marking a registry named
// in InsecureRegistries as insecure.
func (c TransportConfig) ParseRepository(s string) (name.Repository, error) {
	if err := notLocal(s); err != nil {
		return name.Repository{}, err
	}
	repo, err := name.NewRepository(s)
	if err != nil {
		return repo, err
	}
	if err := spec.CheckRepositoryPath(repo.RepositoryStr()); err != nil {
		return name.Repository{}, err
	}
	if c.insecure(repo.RegistryStr()) {
		return name.NewRepository(s, name.Insecure)
	}
	return repo, nil
}

// registry returns reg, marked insecure when the config allows plain HTTP for
// it.
func (c TransportConfig) registry(reg name.Registry) name.Registry {
	if c.insecure(reg.RegistryStr()) {
		r, err := name.NewRegistry(reg.RegistryStr(), name.Insecure)
		if err == nil {
			return r
		}
	}
	return reg
}

// NewTransport returns the HTTP transport that enforces the policy: the
// plain-HTTP gate, per-request timeouts, retries with backoff on connection
// errors and 408/429/5xx responses (a 429's Retry-After is honoured up to
// MaxRetryAfter), and a redacted debug log. Requests whose body cannot be
// replayed are not retried here; Push retries those uploads as a whole.
func NewTransport(cfg TransportConfig) (http.RoundTripper, error) {
	cfg = cfg.withDefaults()
	nets := netTransports{base: cfg.Base, skip: cfg.Base, off: cfg.Base, offSkip: cfg.Base} // tests: one transport
	if cfg.Base == nil {
		var err error
		if cfg.Conns != nil {
			nets, err = cfg.Conns.get(cfg)
		} else {
			nets, err = networkTransports(cfg)
		}
		if err != nil {
			return nil, err
		}
	}
	return &policyTransport{cfg: cfg, inner: nets.base, skipVerify: nets.skip, off: nets.off, offSkip: nets.offSkip}, nil
}

// RemoteOptions returns the ggcr remote options for cfg: its transport and
// keychain, with ggcr's own retries turned off (the transport retries). Pass
// them to compose.WithRemote (base pulls) and to remote calls, with the
// call's context added (remote.WithContext) where it is made: a context is
// never part of them.
func RemoteOptions(cfg TransportConfig) ([]remote.Option, error) {
	t, err := NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return []remote.Option{
		remote.WithTransport(t),
		remote.WithAuthFromKeychain(cfg.Keychain),
		remote.WithUserAgent(cfg.UserAgent),
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryBackoff(remote.Backoff{Duration: cfg.Backoff, Factor: 3, Jitter: 0.1, Steps: 1}),
	}, nil
}

// ErrPlainHTTP is returned for an http:// request to a registry that is
// neither loopback nor listed as insecure.
var ErrPlainHTTP = errors.New("registry: plain HTTP refused")

// policyTransport applies TransportConfig to every request.
type policyTransport struct {
	cfg        TransportConfig
	inner      http.RoundTripper
	skipVerify http.RoundTripper
	// off and offSkip carry the requests a redirect sent off the registry
	// (markRedirect), offSkip those to hosts listed in SkipTLSVerify:
	// their connections are all dialled under guardDial.
	off, offSkip http.RoundTripper
	// plainHosts are insecure-listed hosts found to speak plain HTTP.
	plainHosts sync.Map
}

// RoundTrip applies the policy. For a host listed in InsecureRegistries
// that turns out not to speak TLS, an https request is sent again over
// http, and later https requests to it go straight to http (as docker does
// for insecure registries); this lets ggcr code that only tries https (base
// pulls by name) reach such registries.
func (t *policyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = t.markRedirect(req)
	if t.cfg.Pings != nil && isPing(req) {
		return t.cfg.Pings.do(req, t.roundTripScheme)
	}
	return t.roundTripScheme(req)
}

// roundTripScheme is RoundTrip without the ping answers.
func (t *policyTransport) roundTripScheme(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	if req.URL.Scheme == "https" && t.cfg.insecure(host) {
		if _, plain := t.plainHosts.Load(host); plain {
			return t.roundTrip(withScheme(req, "http"))
		}
		replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		resp, err := t.roundTrip(req)
		var rhe tls.RecordHeaderError
		if err != nil && replayable && errors.As(err, &rhe) {
			t.plainHosts.Store(host, true)
			r := withScheme(req, "http")
			if req.GetBody != nil {
				if r.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
			return t.roundTrip(r)
		}
		return resp, err
	}
	return t.roundTrip(req)
}

// withScheme returns a copy of req for another scheme.
func withScheme(req *http.Request, scheme string) *http.Request {
	r := req.Clone(req.Context())
	r.URL.Scheme = scheme
	return r
}

func (t *policyTransport) roundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	if req.URL.Scheme == "http" && !isLoopback(host) && !t.cfg.insecure(host) {
		return nil, fmt.Errorf("%w for %s: use TLS, or allow it with --insecure-registry %s", ErrPlainHTTP, host, host)
	}
	_, marked := req.Context().Value(offRegistryKey{}).(string)
	skip := t.skipVerify != nil && hostListed(t.cfg.SkipTLSVerify, host)
	inner := t.inner
	switch {
	case marked && skip:
		inner = t.offSkip
	case marked:
		inner = t.off
	case skip:
		inner = t.skipVerify
	}
	t.cfg.Secrets.addAuthorization(req.Header.Get("Authorization"))
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		start := time.Now()
		resp, err := inner.RoundTrip(r)
		t.log(r, resp, err, attempt, time.Since(start))
		if !replayable || attempt >= t.cfg.Attempts || !retryable(ctx, resp, err) {
			return resp, err
		}
		wait := backoff(t.cfg.Backoff, attempt)
		if resp != nil {
			if ra, ok := retryAfter(resp); ok && resp.StatusCode == http.StatusTooManyRequests {
				wait = min(ra, t.cfg.MaxRetryAfter)
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (t *policyTransport) log(req *http.Request, resp *http.Response, err error, attempt int, d time.Duration) {
	if !t.cfg.Logger.Enabled(req.Context(), slog.LevelDebug) {
		return
	}
	attrs := []any{"method", req.Method, "url", RedactURL(req.URL.String()), "attempt", attempt, "elapsed", d.Round(time.Millisecond)}
	if err != nil {
		attrs = append(attrs, "error", t.cfg.Secrets.Redact(err.Error()))
	} else {
		attrs = append(attrs, "status", resp.StatusCode)
	}
	t.cfg.Logger.Debug("http", attrs...)
}

// retryable reports whether a response or error is worth another attempt.
func retryable(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		return retryableError(err)
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, 499, 522,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableError reports whether a transport error is transient: connection
// resets and EOFs. TLS failures, refused connections (nothing listens),
// refused schemes, timeouts and cancellation are not.
func retryableError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrPlainHTTP) || errors.Is(err, ErrPrivateAddress) ||
		errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var tve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError // TLS spoken to a plain-HTTP server
	if errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) || errors.As(err, &tve) || errors.As(err, &rhe) {
		return false
	}
	return true
}

// retryAfter parses a Retry-After header in seconds or as an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

// backoff returns the wait before retry number attempt (1-based): base × 3^(n-1) ± 10%.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt; i++ {
		d *= 3
	}
	jitter := 1 + (rand.Float64()*0.2 - 0.1)
	return time.Duration(float64(d) * jitter)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
