package base

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/ctxio"
)

// maxSmallBlob caps manifests and configs read into memory.
const maxSmallBlob = 16 << 20

// baseFetcher serves one registry repository's manifests and blobs from the
// content-addressed cache, fetching what is missing. Everything it stores is
// verified against its digest first, and every cached file is re-hashed
// once per process before it is trusted; a corrupt cached blob is removed and
// fetched again.
type baseFetcher struct {
	repo  name.Repository
	store *blobstore.Store
	// ropts are Options.Remote and a shared puller; never a context: each
	// fetch gets the context of the call that needs the bytes (opts).
	ropts  []remote.Option
	logger *slog.Logger

	mu       sync.Mutex
	verified map[v1.Hash]bool
	inflight map[v1.Hash]*sync.Mutex
	// shared, when set, serialises work on one digest across every
	// fetcher of the command (Options.Tags), so that a base resolved twice
	// at once is fetched once.
	shared *Tags
}

// newBaseFetcher returns a fetcher for repo. With a zero repo it serves only
// what the cache holds.
func newBaseFetcher(repo name.Repository, store *blobstore.Store, o Options) *baseFetcher {
	ropts := append([]remote.Option{}, o.Remote...)
	// One puller shares the ping and the auth token across every request.
	if p, err := remote.NewPuller(ropts...); err == nil {
		ropts = append(ropts, remote.Reuse(p))
	}
	return &baseFetcher{
		repo: repo, store: store, ropts: ropts, logger: o.Logger,
		verified: map[v1.Hash]bool{}, inflight: map[v1.Hash]*sync.Mutex{}, shared: o.Tags,
	}
}

// opts returns the remote options for one request made under ctx.
func (f *baseFetcher) opts(ctx context.Context) []remote.Option {
	return append(f.ropts[:len(f.ropts):len(f.ropts)], remote.WithContext(ctx))
}

// lock serialises work on one digest (two layers of different platforms
// often share a blob) and returns the unlock function.
func (f *baseFetcher) lock(h v1.Hash) func() {
	if f.shared != nil {
		return f.shared.lock(h)
	}
	f.mu.Lock()
	m, ok := f.inflight[h]
	if !ok {
		m = &sync.Mutex{}
		f.inflight[h] = m
	}
	f.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// checkCached reports whether the cached file for h exists and hashes to h.
// A corrupt file is removed (and logged), so the caller fetches it again.
func (f *baseFetcher) checkCached(h v1.Hash) bool {
	f.mu.Lock()
	ok := f.verified[h]
	f.mu.Unlock()
	if ok {
		return true
	}
	r, err := f.store.Open(h)
	if err != nil {
		return false
	}
	got, _, err := v1.SHA256(r)
	r.Close()
	if err == nil && got == h {
		f.mu.Lock()
		f.verified[h] = true
		f.mu.Unlock()
		return true
	}
	f.logger.Warn("cached base blob is corrupt; fetching it again", "digest", h.String())
	os.Remove(f.store.Path(h))
	return false
}

// manifest returns the bytes of the manifest with digest h.
func (f *baseFetcher) manifest(ctx context.Context, h v1.Hash) ([]byte, error) {
	if h.Algorithm != "sha256" {
		return nil, fmt.Errorf("manifest %s: only sha256 digests are supported", h)
	}
	defer f.lock(h)()
	if f.checkCached(h) {
		return os.ReadFile(f.store.Path(h))
	}
	if f.repo.RepositoryStr() == "" {
		return nil, fmt.Errorf("manifest %s is missing from the cache", h)
	}
	d, err := remote.Get(f.repo.Digest(h.String()), f.opts(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("fetching manifest %s: %w", h, err)
	}
	if err := f.storeVerified(h, d.Manifest); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", h, err)
	}
	return d.Manifest, nil
}

// smallBlob returns the bytes of a small blob (a config) with digest h.
func (f *baseFetcher) smallBlob(ctx context.Context, h v1.Hash) ([]byte, error) {
	p, err := f.blobPath(ctx, h)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// storeVerified stores b as the blob h, after checking that it hashes to h.
func (f *baseFetcher) storeVerified(h v1.Hash, b []byte) error {
	got, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if got != h {
		return fmt.Errorf("registry sent content with digest %s", got)
	}
	if _, err := f.store.PutBytes(b); err != nil {
		return err
	}
	f.mu.Lock()
	f.verified[h] = true
	f.mu.Unlock()
	return nil
}

// blobPath returns the path of the verified cached blob h, fetching it from
// the registry under ctx first if needed.
func (f *baseFetcher) blobPath(ctx context.Context, h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" {
		return "", fmt.Errorf("blob %s: only sha256 digests are supported", h)
	}
	defer f.lock(h)()
	if f.checkCached(h) {
		return f.store.Path(h), nil
	}
	if f.repo.RepositoryStr() == "" {
		return "", fmt.Errorf("blob %s is missing from the cache", h)
	}
	l, err := remote.Layer(f.repo.Digest(h.String()), f.opts(ctx)...)
	if err != nil {
		return "", fmt.Errorf("fetching blob %s: %w", h, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return "", fmt.Errorf("fetching blob %s: %w", h, err)
	}
	defer rc.Close()
	w, err := f.store.Create()
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(w, ctxio.Reader(ctx, rc)); err != nil {
		w.Abort()
		return "", fmt.Errorf("fetching blob %s: %w", h, err)
	}
	got, _, err := w.Commit()
	if err != nil {
		return "", err
	}
	if got != h {
		os.Remove(f.store.Path(got))
		return "", fmt.Errorf("fetching blob %s: registry sent content with digest %s", h, got)
	}
	f.mu.Lock()
	f.verified[h] = true
	f.mu.Unlock()
	return f.store.Path(h), nil
}

// manifestKind sniffs the media type of a manifest from its bytes: the
// mediaType field when present, else "manifests" means an OCI index.
func manifestKind(raw []byte) (mt string, err error) {
	var probe struct {
		MediaType     string            `json:"mediaType"`
		SchemaVersion int               `json:"schemaVersion"`
		Manifests     []json.RawMessage `json:"manifests"`
		Config        json.RawMessage   `json:"config"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", fmt.Errorf("parsing manifest: %w", err)
	}
	switch {
	case probe.SchemaVersion == 1:
		return "", fmt.Errorf("docker schema 1 manifests are not supported")
	case probe.MediaType != "":
		return probe.MediaType, nil
	case probe.Manifests != nil:
		return "application/vnd.oci.image.index.v1+json", nil
	case probe.Config != nil:
		return "application/vnd.oci.image.manifest.v1+json", nil
	}
	return "", fmt.Errorf("not an image manifest or index")
}
