package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Streamer uploads blobs into one repository while they are produced: a
// layer's compressed bytes go to the registry as they leave the compressor,
// and the digest, known only at the end, is given at the final PUT (the
// distribution API allows a PATCH of unknown length followed by
// PUT ?digest=). The registry checks the digest; a blob whose stream
// failed is simply not there, and a later Push uploads it the ordinary way.
//
// Pass the Streamer to PushOptions.Streams so the push counts those blobs
// as uploaded instead of checking them again; a blob committed with
// CommitLater is waited for there, while the push places the others.
type Streamer struct {
	repo name.Repository
	cfg  TransportConfig

	once   sync.Once
	client *repoClient
	err    error

	mu   sync.Mutex
	done []BlobResult
	// pending holds, by digest, a channel per CommitLater, closed when
	// that commit has ended.
	pending map[string][]chan struct{}
	failed  []error // CommitLater's, see Failures
	later   sync.WaitGroup
	// spare are the upload sessions Reserve opened and no push took yet;
	// reserving counts the Reserve calls still opening theirs.
	spare     []*url.URL
	reserving sync.WaitGroup
}

// NewStreamer returns a Streamer for repo with the access policy of cfg.
// It connects on the first Begin.
func NewStreamer(repo name.Repository, cfg TransportConfig) *Streamer {
	return &Streamer{repo: repo, cfg: cfg.withDefaults()}
}

// Begin starts one blob upload. Write the blob's bytes to the returned
// stream, then Commit it with the blob's digest, or Abort it.
func (s *Streamer) Begin(ctx context.Context) (*BlobStream, error) {
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	_, loc, err := s.client.startUpload(ctx, v1.Hash{}, "")
	if err != nil {
		return nil, fmt.Errorf("%s: starting upload: %w", s.repo.Name(), err)
	}
	pr, pw := io.Pipe()
	b := &BlobStream{s: s, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		next, err := s.client.patch(ctx, loc, &countReader{r: pr, n: &b.n}, -1)
		b.next, b.err = next, err
		// A PATCH that ended early leaves the writer blocked: unblock it.
		pr.CloseWithError(errPatchEnded(err))
	}()
	return b, nil
}

// errPatchEnded is what a write after the PATCH request ended returns.
func errPatchEnded(err error) error {
	if err != nil {
		return fmt.Errorf("upload ended: %w", err)
	}
	return errors.New("upload ended before the blob did")
}

// connect makes the Streamer's client, once.
func (s *Streamer) connect(ctx context.Context) error {
	s.once.Do(func() {
		rt, err := NewTransport(s.cfg)
		if err != nil {
			s.err = err
			return
		}
		s.client, s.err = newRepoClient(ctx, s.cfg, rt, s.repo, nil)
	})
	return s.err
}

// Repository is the repository the Streamer uploads into.
func (s *Streamer) Repository() name.Repository { return s.repo }

// Started reports whether an upload of the blob digest was committed, or
// is being committed (CommitLater).
func (s *Streamer) Started(digest string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending[digest]) > 0 || slices.ContainsFunc(s.done, func(b BlobResult) bool { return b.Digest == digest })
}

// Blob waits until no commit of the blob digest is in progress, then
// reports whether one succeeded. It gives up, reporting none, when ctx
// ends first.
func (s *Streamer) Blob(ctx context.Context, digest string) (BlobResult, bool) {
	s.mu.Lock()
	chs := slices.Clone(s.pending[digest])
	s.mu.Unlock()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-ctx.Done():
			return BlobResult{}, false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.done, func(b BlobResult) bool { return b.Digest == digest })
	if i < 0 {
		return BlobResult{}, false
	}
	return s.done[i], true
}

// Wait waits for every CommitLater to end.
func (s *Streamer) Wait() { s.later.Wait() }

// BlobStream is one blob upload in progress; see Streamer.Begin. Its
// methods are not safe for concurrent use.
type BlobStream struct {
	s    *Streamer
	pw   *io.PipeWriter
	done chan struct{}
	n    atomic.Int64 // bytes the PATCH request read

	next *url.URL // after done: the location to commit at
	err  error    // after done: the PATCH's error
}

// Write sends p to the registry; it blocks while the registry is slower
// than the producer.
func (b *BlobStream) Write(p []byte) (int, error) { return b.pw.Write(p) }

// Commit ends the stream and finishes the upload as blob h of size bytes.
// The registry verifies the digest.
func (b *BlobStream) Commit(ctx context.Context, h v1.Hash, size int64) error {
	b.pw.Close()
	<-b.done
	if b.err != nil {
		return fmt.Errorf("%s: uploading blob %s: %w", b.s.repo.Name(), short(h), b.err)
	}
	if n := b.n.Load(); n != size {
		return fmt.Errorf("%s: uploading blob %s: sent %d bytes, expected %d", b.s.repo.Name(), short(h), n, size)
	}
	if err := b.s.client.commit(ctx, b.next, h); err != nil {
		return fmt.Errorf("%s: committing blob %s: %w", b.s.repo.Name(), short(h), err)
	}
	b.s.mu.Lock()
	b.s.done = append(b.s.done, BlobResult{Repo: b.s.repo.Name(), Digest: h.String(), Size: size, Status: "uploaded", BytesUploaded: size})
	b.s.mu.Unlock()
	return nil
}

// CommitLater is Commit in the background: it returns at once, so the
// caller goes on while the registry takes the end of the stream and checks
// the digest. A push given the Streamer (PushOptions.Streams) waits for the
// outcome where it needs the blob, and uploads it the ordinary way if the
// commit failed. ctx bounds the commit; Streamer.Wait waits for it.
func (b *BlobStream) CommitLater(ctx context.Context, h v1.Hash, size int64) {
	s := b.s
	ch := make(chan struct{})
	s.mu.Lock()
	if s.pending == nil {
		s.pending = map[string][]chan struct{}{}
	}
	s.pending[h.String()] = append(s.pending[h.String()], ch)
	s.mu.Unlock()
	s.later.Add(1)
	go func() {
		defer s.later.Done()
		defer close(ch)
		if err := b.Commit(ctx, h, size); err != nil {
			b.Abort()
			if ctx.Err() == nil {
				s.mu.Lock()
				s.failed = append(s.failed, err)
				s.mu.Unlock()
			}
		}
	}()
}

// Failures lists the errors of the commits CommitLater sent that failed
// (not those cut short by their context): each such blob was left to the
// push to upload again.
func (s *Streamer) Failures() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.failed)
}

// Abort ends the stream without committing; the registry drops the
// partial upload.
func (b *BlobStream) Abort() {
	b.pw.CloseWithError(errors.New("blob upload aborted"))
	<-b.done
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

var _ io.Writer = (*BlobStream)(nil)
