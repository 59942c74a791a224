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
// construction, such as the registry cache's records, and sending a small
// blob again does no harm.
type Writer struct {
	p *pusher
	// gate is closed once the push settles whether manifests may go in
	// (ok): when every referrer is in place, or when the push failed.
	gate chan struct{}
	once sync.Once
	ok   bool
}

// ErrPushFailed is what Writer.PutManifest returns, having written
// nothing, when the push failed before its tags.
var ErrPushFailed = errors.New("registry: the push failed before its tags")

// settle lets the manifests through (ok) or refuses them, once.
func (w *Writer) settle(ok bool) {
	w.once.Do(func() {
		w.ok = ok
		close(w.gate)
	})
}

// PutBlob uploads data, whose digest is h, into repo.
func (w *Writer) PutBlob(ctx context.Context, repo name.Repository, h v1.Hash, data []byte) error {
	c, err := w.p.client(ctx, repo)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := putSmallBlob(ctx, c, h, data)
		if err == nil {
			return nil
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
		return ctx.Err()
	}
	c, err := w.p.client(ctx, tag.Context())
	if err != nil {
		return err
	}
	if err := c.putManifest(ctx, tag.TagStr(), mt, raw); err != nil {
		return fmt.Errorf("%s: pushing manifest %s: %w", tag.Context().Name(), tag.TagStr(), err)
	}
	return nil
}
