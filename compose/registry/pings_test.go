package registry

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPingsOncePerRegistry: with Pings, a command that reads several
// repositories of one loopback registry pings it once over http and sends
// one https attempt in all; without, every repository costs both again.
// The answers are the registry's own (the reads succeed either way).
func TestPingsOncePerRegistry(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(reg)
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	repos := []string{"a/one", "a/two", "b/three"}
	for _, r := range repos {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(mustRef(t, host+"/"+r+":v1"), img); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		pings *Pings
		want  int64 // pings sent over each scheme
	}{{nil, int64(len(repos))}, {NewPings(), 1}} {
		var https, http atomic.Int64
		base := countPings{inner: s.Client().Transport, https: &https, http: &http}
		ropts, err := RemoteOptions(TransportConfig{Pings: tc.pings, Base: base})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range repos {
			repo, _ := name.NewRepository(host + "/" + r)
			tags, err := remote.List(repo, append(ropts, remote.WithContext(context.Background()))...)
			if err != nil || len(tags) != 1 || tags[0] != "v1" {
				t.Fatalf("List(%s) = %v, %v", repo, tags, err)
			}
		}
		if https.Load() != tc.want || http.Load() != tc.want {
			t.Errorf("Pings %v: %d https and %d http pings for %d repositories, want %d each", tc.pings != nil, https.Load(), http.Load(), len(repos), tc.want)
		}
	}
}

// countPings counts the pings sent through it, by scheme.
type countPings struct {
	inner       http.RoundTripper
	https, http *atomic.Int64
}

func (c countPings) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v2/" {
		if r.URL.Scheme == "https" {
			c.https.Add(1)
		} else {
			c.http.Add(1)
		}
	}
	return c.inner.RoundTrip(r)
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPingsBigAnswer: an answer too big to keep is handed on whole and
// asked for again next time; a kept answer has the whole status line.
func TestPingsBigAnswer(t *testing.T) {
	for _, size := range []int{10, maxPingBody + 10} {
		body := strings.Repeat("x", size)
		sent := 0
		send := func(r *http.Request) (*http.Response, error) {
			sent++
			return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		}
		p := NewPings()
		for range 2 {
			req, _ := http.NewRequest(http.MethodGet, "http://reg.example/v2/", nil)
			resp, err := p.do(req, send)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(got) != size || resp.Status != "200 OK" {
				t.Errorf("size %d: answer %q with %d bytes", size, resp.Status, len(got))
			}
		}
		if want := map[bool]int{true: 1, false: 2}[size <= maxPingBody]; sent != want {
			t.Errorf("size %d: %d pings sent, want %d", size, sent, want)
		}
	}
}

// TestPingsConcurrent: pings of one registry that start together send one
// request (a push sets up eight repositories at once); an answer that is
// not kept (a 500) leaves each of them to send its own; a waiter whose
// context ends stops waiting.
func TestPingsConcurrent(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		var sent, running, most atomic.Int32
		release := make(chan struct{})
		send := func(r *http.Request) (*http.Response, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			if sent.Add(1) == 1 {
				<-release // the first ping is slow: the others start meanwhile
			} else {
				time.Sleep(20 * time.Millisecond) // long enough for the others to overlap
			}
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", Header: http.Header{},
				Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
		}
		p := NewPings()
		const n = 8
		codes := make(chan int, n)
		for range n {
			go func() {
				req, _ := http.NewRequest(http.MethodGet, "http://reg.example/v2/", nil)
				resp, err := p.do(req, send)
				if err != nil {
					codes <- -1
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		for sent.Load() == 0 {
			runtime.Gosched()
		}
		time.Sleep(20 * time.Millisecond) // the others are waiting now
		close(release)
		for range n {
			if c := <-codes; c != status {
				t.Errorf("status %d: a ping answered %d", status, c)
			}
		}
		want := map[int]int32{http.StatusOK: 1, http.StatusInternalServerError: n}[status]
		if sent.Load() != want {
			t.Errorf("status %d: %d pings sent, want %d", status, sent.Load(), want)
		}
		// An answer not kept sends the waiters' own pings together, not
		// one after the other (a registry answering 503 slowly would
		// otherwise cost eight times its delay).
		if status != http.StatusOK && most.Load() < 2 {
			t.Errorf("status %d: the waiters' pings ran one at a time", status)
		}
	}

	p := NewPings()
	block := make(chan struct{})
	defer close(block)
	go p.do(mustReq(t, context.Background()), func(r *http.Request) (*http.Response, error) { <-block; return nil, io.EOF }) //nolint:errcheck // the waiter is the test
	for {
		p.mu.Lock()
		n := len(p.inflight)
		p.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.do(mustReq(t, ctx), nil); err != context.Canceled {
		t.Errorf("cancelled waiter: %v", err)
	}
}

func mustReq(t *testing.T, ctx context.Context) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://reg.example/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
