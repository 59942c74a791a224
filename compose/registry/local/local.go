// Package local is a development registry server: ggcr's registry with blobs
// on disk and manifests journaled, so a restart keeps every repository and
// tag. It has no authentication; serve it on loopback only.
//
// It imports nothing of strata's.
package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// maxManifestSize caps a manifest accepted by the local registry.
const maxManifestSize = 4 << 20

// manifestPath matches /v2/NAME/manifests/REF.
var manifestPath = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)

// journalRecord is one line of DIR/manifests.jsonl.
type journalRecord struct {
	Op          string `json:"op"` // "put" or "delete"
	Path        string `json:"path"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// Registry is a development registry: ggcr's pkg/registry with blobs
// stored under DIR/blobs and manifests kept in memory and journaled to
// DIR/manifests.jsonl, so a restart keeps every repository, tag and
// manifest. It has no authentication; serve it on loopback only.
type Registry struct {
	inner   http.Handler
	logger  *log.Logger
	mu      sync.Mutex
	journal *os.File
}

// Open opens (or creates) the registry stored in dir and replays its
// manifest journal. logger receives one line per request; nil discards.
func Open(dir string, logger *log.Logger) (*Registry, error) {
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("registry data dir: %w", err)
	}
	r := &Registry{logger: logger, inner: registry.New(registry.Logger(logger), registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)))}
	jpath := filepath.Join(dir, "manifests.jsonl")
	if err := r.replay(jpath); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(jpath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("registry journal: %w", err)
	}
	r.journal = f
	return r, nil
}

// Close closes the journal.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.journal.Close()
}

// replay re-applies the journal to the in-memory manifest store. A torn last
// line (a crash mid-append) is ignored.
func (r *Registry) replay(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registry journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 2*maxManifestSize)
	line := 0
	for sc.Scan() {
		line++
		var rec journalRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			continue
		}
		method := http.MethodPut
		if rec.Op == "delete" {
			method = http.MethodDelete
		}
		req, err := http.NewRequest(method, "http://local"+rec.Path, bytes.NewReader(rec.Body))
		if err != nil {
			return fmt.Errorf("registry journal line %d: %w", line, err)
		}
		if rec.ContentType != "" {
			req.Header.Set("Content-Type", rec.ContentType)
		}
		r.inner.ServeHTTP(newRecorder(), req)
	}
	return sc.Err()
}

// ServeHTTP serves the registry API and journals manifest PUTs and DELETEs
// that succeeded.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !manifestPath.MatchString(req.URL.Path) || (req.Method != http.MethodPut && req.Method != http.MethodDelete) {
		r.inner.ServeHTTP(w, req)
		return
	}
	var body []byte
	if req.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
		if err != nil {
			http.Error(w, "reading manifest: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(b) > maxManifestSize {
			http.Error(w, "manifest too large", http.StatusRequestEntityTooLarge)
			return
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	// Serialise manifest writes so the journal order is the applied order.
	r.mu.Lock()
	defer r.mu.Unlock()
	// Deleting a manifest by digest also removes the tags that point at it,
	// as distribution does (ggcr's registry keeps them, resolving to a
	// manifest that is gone).
	var tags []string
	if m := manifestPath.FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodDelete && strings.HasPrefix(m[2], "sha256:") {
		tags = r.tagsAt(m[1], m[2])
	}
	// The response is held back until the change is journaled: a change
	// that could not be journaled would be lost on restart, so the client
	// is told it failed.
	rec := newRecorder()
	r.inner.ServeHTTP(rec, req)
	if rec.status/100 != 2 {
		rec.flush(w)
		return
	}
	j := journalRecord{Op: "put", Path: req.URL.Path, ContentType: req.Header.Get("Content-Type"), Body: body}
	if req.Method == http.MethodDelete {
		j = journalRecord{Op: "delete", Path: req.URL.Path}
	}
	if err := r.record(j); err != nil {
		r.logger.Printf("journal: %v", err)
		http.Error(w, "registry journal: "+err.Error(), http.StatusInternalServerError)
		return
	}
	for _, t := range tags {
		m := manifestPath.FindStringSubmatch(req.URL.Path)
		path := "/v2/" + m[1] + "/manifests/" + t
		del, _ := http.NewRequest(http.MethodDelete, "http://local"+path, nil)
		r.inner.ServeHTTP(newRecorder(), del)
		if err := r.record(journalRecord{Op: "delete", Path: path}); err != nil {
			r.logger.Printf("journal: %v", err)
			http.Error(w, "registry journal: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	rec.flush(w)
}

// record appends rec to the journal and syncs it. A write that fails is
// cut off again, so a torn line never hides the records after it.
func (r *Registry) record(rec journalRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	fi, err := r.journal.Stat()
	if err != nil {
		return err
	}
	if _, err := r.journal.Write(append(b, '\n')); err != nil {
		r.journal.Truncate(fi.Size())
		return err
	}
	return r.journal.Sync()
}

// tagsAt lists the tags of repo that point at digest.
func (r *Registry) tagsAt(repo, digest string) []string {
	rec := newRecorder()
	list, _ := http.NewRequest(http.MethodGet, "http://local/v2/"+repo+"/tags/list", nil)
	r.inner.ServeHTTP(rec, list)
	var tl struct {
		Tags []string `json:"tags"`
	}
	if rec.status != http.StatusOK || json.Unmarshal(rec.body.Bytes(), &tl) != nil {
		return nil
	}
	var out []string
	for _, t := range tl.Tags {
		h := newRecorder()
		head, _ := http.NewRequest(http.MethodHead, "http://local/v2/"+repo+"/manifests/"+t, nil)
		r.inner.ServeHTTP(h, head)
		if h.status == http.StatusOK && h.header.Get("Docker-Content-Digest") == digest {
			out = append(out, t)
		}
	}
	return out
}

// recorder holds a response of the inner registry: status, headers and
// body (manifests and small JSON answers only; blob traffic is never
// recorded).
type recorder struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// flush sends the recorded response to w.
func (r *recorder) flush(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(max(r.status, http.StatusOK))
	w.Write(r.body.Bytes())
}

// Serve serves the registry stored in dir on addr until ctx is
// done. ready, if not nil, is called with the listening address (useful
// with port 0).
func Serve(ctx context.Context, addr, dir string, logger *log.Logger, ready func(net.Addr)) error {
	reg, err := Open(dir, logger)
	if err != nil {
		return err
	}
	defer reg.Close()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	srv := &http.Server{Handler: reg, ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("registry: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	}
}
