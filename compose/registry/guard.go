package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
)

// ErrPrivateAddress is returned when a redirect to another host would
// connect to a private, loopback, link-local or unspecified address.
var ErrPrivateAddress = errors.New("registry: redirect to a private address refused")

// offRegistryKey marks the context of a request that a redirect sent off
// the registry: to a host other than the one its chain of redirects
// started at (see markRedirect, guardDial).
type offRegistryKey struct{}

// markRedirect marks req when a redirect sent it to a host or port other
// than the one the chain of redirects started at (the registry; a second
// hop on the same outside host is marked too): its connection may then
// not go to a private address, whatever the host's spelling (localhost, a
// name resolving to 10.0.0.1, ...). The registry the user named is never
// marked, so a registry on a private network or on loopback keeps
// working.
//
// A request that goes through an HTTP proxy is left to the proxy's policy:
// the connection is then to the proxy, not to the host.
func (t *policyTransport) markRedirect(req *http.Request) *http.Request {
	if req.Response == nil || req.Response.Request == nil {
		return req
	}
	first := req.Response.Request
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	if sameHost(first.URL, req.URL) || hostListed(t.cfg.PrivateRedirectHosts, req.URL.Host) {
		return req
	}
	if ht, ok := t.inner.(*http.Transport); ok && ht.Proxy != nil {
		if u, err := ht.Proxy(req); err == nil && u != nil {
			return req
		}
	}
	return req.WithContext(context.WithValue(req.Context(), offRegistryKey{}, req.URL.Host))
}

// guardDial is the dialer's check, made on the address a name resolved
// to at connection time: a connection for a marked request (markRedirect)
// to a private, loopback, link-local or unspecified address is refused.
func guardDial(ctx context.Context, network, address string, _ syscall.RawConn) error {
	host, ok := ctx.Value(offRegistryKey{}).(string)
	if !ok {
		return nil
	}
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		h = address
	}
	ip := net.ParseIP(h)
	if ip == nil || privateIP(ip) {
		return fmt.Errorf("%w: %s resolves to %s; a redirect may leave the registry only for a public address (or a host allowed with --allow-private-redirect)", ErrPrivateAddress, hostOnly(host), h)
	}
	return nil
}

// privateIP reports whether ip is private, loopback, link-local or
// unspecified (an IPv4-mapped IPv6 address counts as its IPv4 address).
func privateIP(ip net.IP) bool {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast()
}
