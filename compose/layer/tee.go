package layer

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// teeWriter copies a layer blob to a Request.Tee without ever failing the
// build: after the tee's first error it is aborted and writes are dropped.
type teeWriter struct {
	t    BlobTee
	done bool // committed, aborted or failed
}

// startTee starts a copy of the blob about to be written, or returns nil
// when there is no tee or it cannot start.
func (p *planner) startTee(ctx context.Context) *teeWriter {
	if p.req.Tee == nil || p.req.DryRun {
		return nil
	}
	t, err := p.req.Tee(ctx)
	if err != nil || t == nil {
		return nil
	}
	return &teeWriter{t: t}
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if !w.done {
		if _, err := w.t.Write(b); err != nil {
			w.abort()
		}
	}
	return len(b), nil
}

// commit completes the copy; a failure is dropped (the blob is stored, and
// whoever wanted the copy finds it missing).
func (w *teeWriter) commit(ctx context.Context, digest v1.Hash, size int64) {
	if !w.done {
		w.done = true
		if w.t.Commit(ctx, digest, size) != nil {
			w.t.Abort()
		}
	}
}

// abort ends an unfinished copy.
func (w *teeWriter) abort() {
	if !w.done {
		w.done = true
		w.t.Abort()
	}
}
