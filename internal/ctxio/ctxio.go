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

// Layer is implemented by layers whose bytes may have to be fetched first
// (a registry base layer not cached yet): the fetch, and every read, then
// honour ctx. v1.Layer's own Compressed and Uncompressed take no context;
// readers call Compressed and Uncompressed below instead, so a fetch is
// always governed by the context of the call that needs the bytes, never
// by one captured earlier.
type Layer interface {
	CompressedContext(ctx context.Context) (io.ReadCloser, error)
	UncompressedContext(ctx context.Context) (io.ReadCloser, error)
}

// compressedLayer and uncompressedLayer are the v1.Layer methods used here.
type (
	compressedLayer   interface{ Compressed() (io.ReadCloser, error) }
	uncompressedLayer interface{ Uncompressed() (io.ReadCloser, error) }
)

// Compressed opens l's compressed bytes, through CompressedContext when l
// has it; reads stop once ctx is done.
func Compressed(ctx context.Context, l compressedLayer) (io.ReadCloser, error) {
	if cl, ok := l.(Layer); ok {
		return readCloser(cl.CompressedContext(ctx))(ctx)
	}
	return readCloser(l.Compressed())(ctx)
}

// Uncompressed opens l's uncompressed bytes, through UncompressedContext
// when l has it; reads stop once ctx is done.
func Uncompressed(ctx context.Context, l uncompressedLayer) (io.ReadCloser, error) {
	if cl, ok := l.(Layer); ok {
		return readCloser(cl.UncompressedContext(ctx))(ctx)
	}
	return readCloser(l.Uncompressed())(ctx)
}

// readCloser wraps an opened stream so that its reads honour ctx.
func readCloser(rc io.ReadCloser, err error) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{Reader(ctx, rc), rc}, nil
	}
}
