// Package ctxio stops reads and writes once a context is done, so copying a
// large stream (a layer, a blob, a tarball) ends promptly on cancellation.
//
// It imports nothing of strata's.
package ctxio

import (
	"context"
	"io"
)

// Reader returns a reader that fails with ctx's error once ctx is done.
func Reader(ctx context.Context, r io.Reader) io.Reader { return &reader{ctx: ctx, r: r} }

// Writer returns a writer that fails with ctx's error once ctx is done.
func Writer(ctx context.Context, w io.Writer) io.Writer { return &writer{ctx: ctx, w: w} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c *reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type writer struct {
	ctx context.Context
	w   io.Writer
}

func (c *writer) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
