package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BlobObserver watches one layer blob while it is written (see
// Request.Observe), so that whoever needs to know what is in the blob (the
// SBOM) learns it from the one pass that writes it instead of reading the
// blob again. Its methods are called from the goroutine that writes the
// blob, in this order: for every tar entry, in layer order, Entry, then for
// an entry whose Entry returned a writer, the entry's content written to it
// and EndFile; at the end either Commit, once the blob is stored complete,
// or Abort. Only a committed blob's observations count: a write that fails
// or is cancelled ends with Abort.
type BlobObserver interface {
	// Entry is shown each tar header as it is written. For a regular file
	// it may return a writer, which receives the file's content in order
	// (nil: the content is not wanted). The writer must not fail, block
	// for long or keep the slices it is given: it runs inside the layer
	// write.
	Entry(h *tar.Header) io.Writer
	// EndFile follows the content of an entry whose Entry returned a
	// writer, with the sha256 of that content (the layer engine computes
	// it anyway for its cache keys).
	EndFile(sha256 [sha256.Size]byte)
	// Commit is called once the blob is stored, with its diffID.
	Commit(diffID v1.Hash)
	// Abort is called when the blob will not be completed.
	Abort()
}

// emptySum is the sha256 of no bytes.
var emptySum = sha256.Sum256(nil)

// startObserver returns the observer of the blob about to be written, or
// nil when there is none (no Request.Observe, or a dry run, which stores
// nothing).
func (p *planner) startObserver(ctx context.Context) BlobObserver {
	if p.req.Observe == nil || p.req.DryRun {
		return nil
	}
	return p.req.Observe(ctx)
}

// observedWriter copies a file's content to the layer and to an observer.
type observedWriter struct {
	w, o io.Writer
}

func (w observedWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.o.Write(b[:n])
	return n, err
}
