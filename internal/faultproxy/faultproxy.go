// Package faultproxy is a test helper: an http.Handler in front of a registry
// handler that injects faults (error statuses, connection resets, hangs,
// rewritten upload locations), can require basic-auth-for-bearer-token
// authentication, and records every request so tests can assert on attempts,
// order and bytes.
package faultproxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Entry is one recorded request.
type Entry struct {
	Time    time.Time // when the request arrived
	End     time.Time // when the handler returned (before the response is flushed)
	Method  string
	Path    string // path and raw query
	Status  int    // 0 when the connection was reset or hung
	BytesIn int64  // request body bytes read by the registry
	Fault   string // the fault applied, if any
}

// Action is what a rule does to a matching request.
type Action struct {
	// Status, when non-zero, answers with this status (and Headers) without
	// forwarding.
	Status  int
	Headers map[string]string
	// Code is the OCI error code put in the body with Status.
	Code string
	// Body, when set, is sent with Status instead of the OCI error body
	// (e.g. a body echoing credentials back).
	Body string
	// ResetAfter, when >= 0 and Reset is set, reads that many body bytes and
	// then resets the connection.
	Reset      bool
	ResetAfter int64
	// Hang blocks until the client gives up (or the proxy is closed).
	Hang bool
	// Wait, when set, holds the request until it is closed, then forwards
	// it (the client giving up or the proxy closing ends the wait too).
	Wait chan struct{}
}

// Rule matches requests by method and path and applies an action to some of
// the matches.
type Rule struct {
	Method string         // "" matches any
	Path   *regexp.Regexp // nil matches any; matched against path?query
	// Nth fires on the Nth match only (1-based); 0 fires on every match.
	Nth int
	// Times limits how often the rule fires; 0 means no limit.
	Times  int
	Action Action

	matches, fired int
}

// Proxy is the fault-injecting handler. Use New, then serve it with
// httptest.NewServer.
type Proxy struct {
	next http.Handler

	mu       sync.Mutex
	rules    []*Rule
	log      []Entry
	rewrite  func(string) string
	user     string
	pass     string
	token    string
	closed   chan struct{}
	closeOne sync.Once
}

// New returns a proxy in front of next.
func New(next http.Handler) *Proxy {
	return &Proxy{next: next, closed: make(chan struct{})}
}

// Add appends rules; earlier rules win.
func (p *Proxy) Add(rules ...*Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, rules...)
}

// Clear removes every rule (the log is kept).
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// RewriteLocation sets a function applied to every Location header the
// registry sends.
func (p *Proxy) RewriteLocation(f func(string) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = f
}

// RequireAuth makes the proxy demand a bearer token for /v2/ requests,
// issued by its own /token endpoint to basic auth user:pass.
func (p *Proxy) RequireAuth(user, pass, token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user, p.pass, p.token = user, pass, token
}

// Close releases hanging requests.
func (p *Proxy) Close() { p.closeOne.Do(func() { close(p.closed) }) }

// Log returns a copy of the request log.
func (p *Proxy) Log() []Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Entry(nil), p.log...)
}

// ResetLog empties the request log.
func (p *Proxy) ResetLog() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = nil
}

// Count returns how many logged requests match method ("" any) and the path
// pattern, optionally only those with the given status (0 any).
func (p *Proxy) Count(method, pattern string, status int) int {
	re := regexp.MustCompile(pattern)
	n := 0
	for _, e := range p.Log() {
		if (method == "" || e.Method == method) && re.MatchString(e.Path) && (status == 0 || e.Status == status) {
			n++
		}
	}
	return n
}

func (p *Proxy) match(r *http.Request) *Action {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := r.URL.RequestURI()
	for _, rule := range p.rules {
		if rule.Method != "" && rule.Method != r.Method {
			continue
		}
		if rule.Path != nil && !rule.Path.MatchString(target) {
			continue
		}
		rule.matches++
		if rule.Nth != 0 && rule.matches != rule.Nth {
			continue
		}
		if rule.Times != 0 && rule.fired >= rule.Times {
			continue
		}
		rule.fired++
		a := rule.Action
		return &a
	}
	return nil
}

func (p *Proxy) record(e Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, e)
}

// ServeHTTP applies the first matching rule, else forwards to the registry.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := Entry{Time: time.Now(), Method: r.Method, Path: r.URL.RequestURI()}
	body := &countBody{r: r.Body}
	r.Body = body
	defer func() {
		e.BytesIn = body.n
		e.End = time.Now()
		p.record(e)
	}()
	if r.URL.Path == "/token" {
		e.Status = p.serveToken(w, r)
		return
	}
	if !p.authorized(w, r) {
		e.Status = http.StatusUnauthorized
		return
	}
	if a := p.match(r); a != nil {
		switch {
		case a.Wait != nil:
			e.Fault = "wait"
			select {
			case <-a.Wait:
			case <-r.Context().Done():
				return
			case <-p.closed:
				return
			}
		case a.Hang:
			e.Fault = "hang"
			e.End = time.Now()
			p.record(e) // now: the client may give up before the handler returns
			e = Entry{Time: e.Time, Method: e.Method, Path: e.Path, Fault: "hang (ended)"}
			select {
			case <-r.Context().Done():
			case <-p.closed:
			}
			return
		case a.Reset:
			e.Fault = fmt.Sprintf("reset after %d bytes", a.ResetAfter)
			io.CopyN(io.Discard, body, a.ResetAfter)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					if tc, ok := conn.(*net.TCPConn); ok {
						tc.SetLinger(0)
					}
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case a.Status != 0:
			e.Fault = fmt.Sprintf("status %d", a.Status)
			e.Status = a.Status
			io.Copy(io.Discard, body)
			for k, v := range a.Headers {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.Status)
			if a.Body != "" {
				io.WriteString(w, a.Body)
				return
			}
			code := a.Code
			if code == "" {
				code = "UNKNOWN"
			}
			json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": "injected fault"}}})
			return
		}
	}
	sw := &statusWriter{ResponseWriter: w, p: p}
	p.next.ServeHTTP(sw, r)
	e.Status = sw.status
}

func (p *Proxy) authorized(w http.ResponseWriter, r *http.Request) bool {
	p.mu.Lock()
	token := p.token
	p.mu.Unlock()
	if token == "" {
		return true
	}
	if r.Header.Get("Authorization") == "Bearer "+token {
		return true
	}
	realm := "http://" + r.Host + "/token"
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="faultproxy"`, realm))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	return false
}

func (p *Proxy) serveToken(w http.ResponseWriter, r *http.Request) int {
	p.mu.Lock()
	user, pass, token := p.user, p.pass, p.token
	p.mu.Unlock()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	if token == "" || r.Header.Get("Authorization") != want {
		w.WriteHeader(http.StatusUnauthorized)
		return http.StatusUnauthorized
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": token, "access_token": token, "expires_in": 300})
	return http.StatusOK
}

type statusWriter struct {
	http.ResponseWriter
	p      *Proxy
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.p.mu.Lock()
	rw := s.p.rewrite
	s.p.mu.Unlock()
	if loc := s.Header().Get("Location"); loc != "" && rw != nil {
		s.Header().Set("Location", rw(loc))
	}
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

type countBody struct {
	r io.ReadCloser
	n int64
}

func (c *countBody) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func (c *countBody) Close() error { return c.r.Close() }

// PathRe compiles a path pattern (a convenience for rules).
func PathRe(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// IsBlobUpload reports whether a logged path is a blob upload URL.
func IsBlobUpload(path string) bool { return strings.Contains(path, "/blobs/uploads/") }
