package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Writer puts small documents into a push's repositories through the
// push's authenticated clients (see PushOptions.BeforeTags): no new ping
// or token. Each blob takes two requests, a POST and then a PUT with the
// bytes (the distribution API's monolithic upload), and nobody asks first
// whether the repository has it: it is for documents that are new by
// construction, such as the registry cache's records. A blob the push
// itself placed in the repository, or that the Writer is already putting
// there, is not sent again: distribution rewrites a repository's link to
// a blob it receives again, and a manifest PUT that checks the blob
// meanwhile fails.
type Writer struct {
	p *pusher
	// gate is closed once the push settles whether manifests may go in
	// (ok): when every referrer is in place, or when the push failed
	// (then cancel ends what the writer still sends).
	gate   chan struct{}
	once   sync.Once
	ok     bool
	cancel context.CancelFunc

	mu   sync.Mutex
	puts map[string]*blobPut // repository@digest → its one upload
}

// blobPut is one upload of a blob by a Writer.
type blobPut struct {
	done chan struct{}
	err  error
}

// ErrPushFailed is what a Writer returns, having written no manifest, when
// the push failed before its tags.
var ErrPushFailed = errors.New("registry: the push failed before its tags")

// newWriter returns the writer of p's BeforeTags; cancel ends its context.
func newWriter(p *pusher, cancel context.CancelFunc) *Writer {
	return &Writer{p: p, gate: make(chan struct{}), cancel: cancel, puts: map[string]*blobPut{}}
}

// settle lets the manifests through (ok) or refuses them and ends what the
// writer still sends, once.
func (w *Writer) settle(ok bool) {
	w.once.Do(func() {
		w.ok = ok
		close(w.gate)
		if !ok {
			w.cancel()
		}
	})
}

// refused reports whether the push failed before its tags.
func (w *Writer) refused() bool {
	select {
	case <-w.gate:
		return !w.ok
	default:
		return false
	}
}

// PutBlob uploads data, whose digest is h, into repo, unless the push or
// this writer already put it there. It is for a blob that is new by
// construction (nobody asks first); see PutSharedBlob for one that may be
// there already.
func (w *Writer) PutBlob(ctx context.Context, repo name.Repository, h v1.Hash, data []byte) error {
	return w.mapped(w.put(ctx, repo, h, data, false))
}

// PutSharedBlob is PutBlob for a blob the repository may hold already
// (the empty config every artifact shares): unless the push placed it,
// the repository is asked first, so that a blob it holds is not sent
// again while someone else's manifest is checked against it.
func (w *Writer) PutSharedBlob(ctx context.Context, repo name.Repository, h v1.Hash, data []byte) error {
	return w.mapped(w.put(ctx, repo, h, data, true))
}

// mapped is err, or ErrPushFailed once the push failed before its tags
// (whatever the writer's requests then ended with, a cancellation
// included).
func (w *Writer) mapped(err error) error {
	if err != nil && w.refused() {
		return ErrPushFailed
	}
	return err
}

// put is PutBlob (ask false) and PutSharedBlob (ask true). One put of a
// blob into a repository runs at a time; the others wait for it, and try
// again themselves if it failed.
func (w *Writer) put(ctx context.Context, repo name.Repository, h v1.Hash, data []byte, ask bool) error {
	if w.p.placed(repo, h) {
		return nil
	}
	key := repo.Name() + "@" + h.String()
	for {
		w.mu.Lock()
		bp := w.puts[key]
		if bp == nil {
			bp = &blobPut{done: make(chan struct{})}
			w.puts[key] = bp
			w.mu.Unlock()
			bp.err = w.p.withSlot(ctx, func() error { return w.upload(ctx, repo, h, data, ask) })
			if bp.err != nil {
				w.mu.Lock()
				delete(w.puts, key) // the next put tries again
				w.mu.Unlock()
			}
			close(bp.done)
			return bp.err
		}
		w.mu.Unlock()
		select {
		case <-bp.done:
			if bp.err == nil {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// upload sends data to repo as blob h, retrying as the transport allows;
// with ask, unless repo holds it already.
func (w *Writer) upload(ctx context.Context, repo name.Repository, h v1.Hash, data []byte, ask bool) error {
	c, err := w.p.client(ctx, repo)
	if err != nil {
		return err
	}
	if ask {
		if there, err := c.headBlob(ctx, h); err == nil && there {
			return nil
		}
	}
	for attempt := 1; ; attempt++ {
		err := putSmallBlob(ctx, c, h, data)
		if err == nil {
			return nil
		}
		if w.refused() {
			return err
		}
		if attempt >= w.p.opts.Transport.Attempts || !retryableUpload(ctx, err) {
			return fmt.Errorf("%s: uploading blob %s: %w", repo.Name(), short(h), err)
		}
		if err := sleep(ctx, backoff(w.p.opts.Transport.Backoff, attempt)); err != nil {
			return fmt.Errorf("%s: uploading blob %s: %w", repo.Name(), short(h), err)
		}
	}
}

// putSmallBlob starts an upload and finishes it with one PUT of data.
func putSmallBlob(ctx context.Context, c *repoClient, h v1.Hash, data []byte) error {
	_, loc, err := c.startUpload(ctx, v1.Hash{}, "")
	if err != nil {
		return err
	}
	return c.putBlob(ctx, loc, h, data)
}

// PutManifest puts raw, a manifest of media type mt, under tag, once every
// referrer of the push is in place (it waits for that).
func (w *Writer) PutManifest(ctx context.Context, tag name.Tag, mt types.MediaType, raw []byte) error {
	select {
	case <-w.gate:
		if !w.ok {
			return ErrPushFailed
		}
	case <-ctx.Done():
		return w.mapped(ctx.Err())
	}
	err := w.p.withSlot(ctx, func() error {
		c, err := w.p.client(ctx, tag.Context())
		if err == nil {
			err = c.putManifest(ctx, tag.TagStr(), mt, raw)
		}
		return err
	})
	if err != nil {
		return w.mapped(fmt.Errorf("%s: pushing manifest %s: %w", tag.Context().Name(), tag.TagStr(), err))
	}
	return nil
}
