// Package oci reads and writes images on local disk: OCI image layouts
// (read and write), docker-save tarballs (write) and docker archives (read,
// .tar or .tar.gz). An image or index travels as an [Artifact].
//
// Writes are atomic: a crash or a failure leaves every output as it was
// (see [WriteLayout] and [WriteTarball]). Every blob copied is checked
// against its digest; a verified local blob ([LocalBlob]) is hard-linked
// instead of copied.
//
// It imports spec (for the location grammar) and strata's internal
// packages; it knows nothing of composing, bases or registries.
package oci

import (
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// WriteOptions are the optional settings of WriteLayout and WriteTarball.
type WriteOptions struct {
	// Jobs is how many blobs are written at once (the caller's concurrency
	// budget); 0 means 4.
	Jobs int

	// Referrers are artifacts that refer to the written image (OCI 1.1
	// subject: SBOMs, provenance, signatures). WriteLayout stores them and
	// lists them in index.json without a ref name, as oras and cosign look
	// for them; the image's own entry is unchanged.
	Referrers []v1.Image

	// seam wraps the writer of every written file (a test seam: fail
	// after N bytes).
	seam writeSeam
}

func (o WriteOptions) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return 4
}

// LocalBlob is implemented by layers whose compressed blob is a complete,
// verified file on local disk (strata's built layers, cached base layers).
// Writers hard-link such files instead of reading them again.
type LocalBlob interface {
	// BlobPath returns the file's path, fetching it under ctx first if
	// needed.
	BlobPath(ctx context.Context) (string, error)
}

// writeSeam wraps the writer of every file a sink writes. Tests use it to
// fail after N bytes; production code leaves it nil.
type writeSeam = func(io.Writer) io.Writer
