package registry

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// maxPingBody bounds the body of a ping answer that is kept.
const maxPingBody = 64 << 10

// Pings keeps each registry's answer to the API version check, GET /v2/
// (ggcr's ping: 200, or 401 with the auth challenge), for the life of one
// command, so that a registry is pinged once and not once per repository a
// command reads or writes (a push of 200 services otherwise pings 400 times:
// ggcr pings whenever it sets up a repository, and tries https first even
// for a loopback registry that speaks only http). The ping carries no
// credentials, so its answer is the same for every repository. A failed
// TLS handshake with a server that speaks plain HTTP is kept too; other
// errors and other answers are not. The zero value is not ready: use
// NewPings. It is safe for concurrent use.
type Pings struct {
	mu       sync.Mutex
	m        map[string]*pingAnswer   // scheme://host → answer
	inflight map[string]chan struct{} // scheme://host → closed when its ping ends
}

// NewPings returns an empty Pings.
func NewPings() *Pings {
	return &Pings{m: map[string]*pingAnswer{}, inflight: map[string]chan struct{}{}}
}

type pingAnswer struct {
	status int
	proto  string
	header http.Header
	body   []byte
	err    error // a tls.RecordHeaderError
}

// isPing reports whether req is a registry's API version check.
func isPing(req *http.Request) bool {
	return req.Method == http.MethodGet && req.URL.Path == "/v2/" && req.URL.RawQuery == "" && req.Header.Get("Authorization") == ""
}

// do answers the ping req from p, or sends it with send and keeps the
// answer when it may be kept. Pings of one registry that start together
// wait for the first one's answer (a push sets up its repositories eight at
// a time); when that answer is not kept (a 5xx, an error), they all send
// their own at once.
func (p *Pings) do(req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	key := req.URL.Scheme + "://" + req.URL.Host
	p.mu.Lock()
	a, wait := p.m[key], p.inflight[key]
	if a == nil && wait == nil {
		done := make(chan struct{})
		p.inflight[key] = done
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.inflight, key)
			p.mu.Unlock()
			close(done)
		}()
		return p.send(key, req, send)
	}
	p.mu.Unlock()
	if a == nil {
		select {
		case <-wait:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		p.mu.Lock()
		a = p.m[key]
		p.mu.Unlock()
	}
	if a != nil {
		return a.response(req)
	}
	return p.send(key, req, send)
}

// send sends the ping and keeps its answer under key when it may be kept.
func (p *Pings) send(key string, req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	var a *pingAnswer
	resp, err := send(req)
	var rhe tls.RecordHeaderError
	switch {
	case err != nil && errors.As(err, &rhe):
		a = &pingAnswer{err: err}
	case err != nil:
		return nil, err
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized:
		return resp, nil
	default:
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxPingBody+1))
		if rerr != nil {
			resp.Body.Close()
			return nil, rerr
		}
		if len(body) > maxPingBody {
			// Too big to keep: handed on whole, not kept.
			resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
			return resp, nil
		}
		resp.Body.Close()
		a = &pingAnswer{status: resp.StatusCode, proto: resp.Proto, header: resp.Header.Clone(), body: body}
	}
	p.mu.Lock()
	p.m[key] = a
	p.mu.Unlock()
	return a.response(req)
}

// response is a fresh copy of the kept answer to req.
func (a *pingAnswer) response(req *http.Request) (*http.Response, error) {
	if a.err != nil {
		return nil, a.err
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)),
		StatusCode:    a.status,
		Proto:         a.proto,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        a.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)),
		Request:       req,
	}, nil
}

// readCloser reads from r and closes c.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }
