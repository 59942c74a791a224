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
