package registry

import (
	"fmt"
	"net/http"
	"sync"
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
// way round. The first transport made sets the pools up; one made from a
// config whose network settings (CA file, request timeout, skipped
// verification) differ gets pools of its own. It is safe for concurrent
// use.
type Conns struct {
	once sync.Once
	key  string // the network settings the pools were made for
	nets netTransports
	err  error
}

// NewConns returns an empty Conns.
func NewConns() *Conns { return &Conns{} }

// netTransports are the network transports under one policyTransport.
type netTransports struct {
	base http.RoundTripper // the registries
	skip http.RoundTripper // hosts listed in SkipTLSVerify (nil: none)
	off  http.RoundTripper // requests a redirect sent off the registry
}

// networkKey names the settings of cfg that its network transports are
// made from.
func networkKey(cfg TransportConfig) string {
	return fmt.Sprintf("%q %d %t", cfg.CAFile, cfg.RequestTimeout, len(cfg.SkipTLSVerify) > 0)
}

// get returns the shared transports for cfg, made on first use, or
// transports of cfg's own when its network settings differ from those the
// shared ones were made for.
func (c *Conns) get(cfg TransportConfig) (netTransports, error) {
	key := networkKey(cfg)
	c.once.Do(func() {
		c.key = key
		c.nets, c.err = networkTransports(cfg)
	})
	if key != c.key {
		return networkTransports(cfg)
	}
	return c.nets, c.err
}
