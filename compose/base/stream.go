package base

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

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
	// A gzip blob is decompressed by klauspost/compress (a third faster
	// than the standard library's, which ggcr's Uncompressed uses); ggcr
	// checks the compressed digest when the gzip reader reaches the blob's
	// end. Other compressions go through ggcr.
	crc, err := rl.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", l.desc.Digest, err)
	}
	br := bufio.NewReaderSize(ctxio.Reader(ctx, crc), 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			crc.Close()
			return nil, fmt.Errorf("fetching blob %s: %w", l.desc.Digest, err)
		}
		return readCloser{zr, crc}, nil
	}
	crc.Close()
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
