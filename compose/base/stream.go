package base

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/ctxio"
)

// StreamUncompressed opens the layer's uncompressed bytes for one pass
// (indexing its tar headers): from the cache when the blob is there, else
// streamed from the registry under ctx without storing the blob, since a
// push mounts base blobs and never needs them here. The compressed
// digest is verified when the stream is read to its end (a reader that
// stops early must not trust what it read).
func (l *cachedLayer) StreamUncompressed(ctx context.Context) (io.ReadCloser, error) {
	if l.Local() || l.f.repo.RepositoryStr() == "" {
		return l.UncompressedContext(ctx)
	}
	rl, err := remote.Layer(l.f.repo.Digest(l.desc.Digest.String()), l.f.opts(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", l.desc.Digest, err)
	}
	rc, err := rl.Uncompressed()
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", l.desc.Digest, err)
	}
	return readCloser{ctxio.Reader(ctx, rc), rc}, nil
}

// readCloser reads from r and closes c.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }
