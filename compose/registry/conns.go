package registry

import (
	"net/http"
	"sync"
)

// Conns is the network transport, and so the pool of open connections,
// that every transport made from one TransportConfig shares (see
// TransportConfig.Conns): a command's base pulls, registry-cache lookups,
// streamed layers and push reuse each other's connections instead of
// each opening its own. Against a distant registry a new HTTPS
// connection costs two round trips (TCP, then TLS) before its first
// request. Every transport made with one Conns must come from the same
// configuration: the first one made sets the pool up. The zero value is
// not ready: use NewConns. It is safe for concurrent use.
type Conns struct {
	once       sync.Once
	base, skip http.RoundTripper
	err        error
}

// NewConns returns an empty Conns.
func NewConns() *Conns { return &Conns{} }

// get returns the shared transports, made by mk on first use.
func (c *Conns) get(mk func() (base, skip http.RoundTripper, err error)) (http.RoundTripper, http.RoundTripper, error) {
	c.once.Do(func() { c.base, c.skip, c.err = mk() })
	return c.base, c.skip, c.err
}
