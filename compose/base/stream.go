package base

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/ctxio"
	"github.com/strata-build/strata/internal/readahead"
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
		ahead := readahead.New(br, aheadChunk, aheadDepth)
		zr, err := gzip.NewReader(ahead)
		if err != nil {
			crc.Close()
			ahead.Close()
			return nil, fmt.Errorf("fetching blob %s: %w", l.desc.Digest, err)
		}
		un := readahead.New(zr, aheadChunk, aheadDepth)
		return readCloser{un, closeAll{crc, ahead, un}}, nil
	}
	crc.Close()
	rc, err := rl.Uncompressed()
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", l.desc.Digest, err)
	}
	return readCloser{ctxio.Reader(ctx, rc), rc}, nil
}

// The read ahead of a streamed base layer: the network read and the
// compressed digest, the decompression, and the caller's work (the diffID
// and the tar headers) each run on a goroutine of their own, a few chunks
// apart.
const (
	aheadChunk = 256 << 10
	aheadDepth = 4
)

// closeAll closes each in order (the source first, so that a read ahead
// blocked in it returns), returning the first error.
type closeAll []io.Closer

func (cs closeAll) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// readCloser reads from r and closes c.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }
