package registry

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Conns is the network transports, and so the pools of open connections,
// that every transport made from one TransportConfig shares (see
// TransportConfig.Conns): a command's base pulls, registry-cache lookups,
// streamed layers and push reuse each other's connections instead of
// each opening its own. Against a distant registry a new HTTPS
// connection costs two round trips (TCP, then TLS) before its first
// request. There are three pools: one for the registries, one for hosts
// listed in SkipTLSVerify, and one for requests a redirect sent off the
// registry, whose connections are all dialled under the private-address
// guard (guardDial) and never serve a registry request, nor the other
// way round (hosts in SkipTLSVerify have such a pair of pools too).
// Configs whose network settings (CA file, request timeout, skipped
// verification) differ get pools of their own. It is safe for concurrent
// use.
type Conns struct {
	mu   sync.Mutex
	nets map[string]netTransports // network settings (networkKey) → pools
}

// NewConns returns an empty Conns.
func NewConns() *Conns { return &Conns{} }

// netTransports are the network transports under one policyTransport.
type netTransports struct {
	base    http.RoundTripper // the registries
	skip    http.RoundTripper // hosts listed in SkipTLSVerify (nil: none)
	off     http.RoundTripper // requests a redirect sent off the registry
	offSkip http.RoundTripper // those of them to hosts listed in SkipTLSVerify
}

// networkKey names the settings of cfg that its network transports are
// made from.
func networkKey(cfg TransportConfig) string {
	return fmt.Sprintf("%q %d %t", cfg.CAFile, cfg.RequestTimeout, len(cfg.SkipTLSVerify) > 0)
}

// get returns the transports shared by every config with cfg's network
// settings, made on first use.
func (c *Conns) get(cfg TransportConfig) (netTransports, error) {
	key := networkKey(cfg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nets[key]; ok {
		return n, nil
	}
	n, err := networkTransports(cfg)
	if err != nil {
		return n, err
	}
	if c.nets == nil {
		c.nets = map[string]netTransports{}
	}
	c.nets[key] = n
	return n, nil
}

// networkTransports returns the network transports for cfg (see Conns).
func networkTransports(cfg TransportConfig) (netTransports, error) {
	// Without a CA file the roots stay nil: crypto/tls then loads the
	// system pool on the first certificate it verifies, so a push to a
	// plain-HTTP registry never reads the ~150 files of the system pool.
	var roots *x509.CertPool
	if cfg.CAFile != "" {
		var err error
		if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		// Checked before reading: a FIFO would hang the read.
		if fi, err := os.Stat(cfg.CAFile); err == nil && !fi.Mode().IsRegular() {
			return netTransports{}, fmt.Errorf("CA file %s: not a regular file", cfg.CAFile)
		}
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return netTransports{}, fmt.Errorf("reading CA file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return netTransports{}, fmt.Errorf("CA file %s: no PEM certificates found", cfg.CAFile)
		}
	}
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	n := netTransports{base: newHTTPTransport(cfg, tc), off: newHTTPTransport(cfg, tc.Clone())}
	if len(cfg.SkipTLSVerify) > 0 {
		skip := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // asked for per host
		n.skip, n.offSkip = newHTTPTransport(cfg, skip), newHTTPTransport(cfg, skip.Clone())
	}
	return n, nil
}

func newHTTPTransport(cfg TransportConfig, tc *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:        cfg.RequestTimeout,
			KeepAlive:      30 * time.Second,
			ControlContext: guardDial,
		}).DialContext,
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   50,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   min(cfg.RequestTimeout, 10*time.Second),
		ResponseHeaderTimeout: cfg.RequestTimeout,
		ExpectContinueTimeout: time.Second,
	}
}
