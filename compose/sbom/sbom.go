// Package sbom writes the software bill of materials of one platform image
// that strata built: SPDX 2.3 JSON (the default) or CycloneDX 1.6 JSON.
//
// The bill is complete by construction, because strata never runs anything:
// every file strata added is read back from the layers it wrote (its path in
// the image, size, sha256 and the source path relative to the context), every
// Go binary among them is opened with debug/buildinfo (its main module and
// every module dependency with version and go.sum hash), and the base image's
// OS packages are read from the package databases in its layers (dpkg's
// var/lib/dpkg/status and status.d/, apk's lib/apk/db/installed), streaming
// each layer once.
//
// What an SBOM needs from one layer is its inventory (see layerinv.go),
// keyed by the layer's diffID. A [Memo] keeps inventories for a command
// and, with a directory, across commands; it records them without a
// separate read while strata writes its own layers ([Memo.Observe]) and
// while the base check streams the base's ([Memo.VisitBase]), so that
// generating the SBOM reads no layer bytes the command already streamed.
//
// Documents are deterministic: no wall-clock time (the creation time is the
// image's created time), names and namespaces derived from the image digest,
// and every list sorted, so rebuilding an image gives a byte-identical SBOM.
//
// It imports strata's internal/ctxio and internal/atomicfile only; it knows
// nothing of specs, composing or registries.
package sbom

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Format is an SBOM document format.
type Format string

// The formats Generate writes.
const (
	SPDX      Format = "spdx"      // SPDX 2.3 JSON
	CycloneDX Format = "cyclonedx" // CycloneDX 1.6 JSON
)

// Media types of the documents, used as the artifact type of an attached SBOM.
const (
	MediaTypeSPDX      = "application/spdx+json"
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
)

// MediaType returns the media type of documents in format f.
func (f Format) MediaType() string {
	if f == CycloneDX {
		return MediaTypeCycloneDX
	}
	return MediaTypeSPDX
}

// ParseFormat returns the format named s: "spdx" (or "spdx-json") or
// "cyclonedx" (or "cyclonedx-json").
func ParseFormat(s string) (Format, error) {
	switch s {
	case "spdx", "spdx-json":
		return SPDX, nil
	case "cyclonedx", "cyclonedx-json":
		return CycloneDX, nil
	}
	return "", fmt.Errorf("sbom: unknown format %q (want spdx or cyclonedx)", s)
}

// Subject names the image an SBOM describes.
type Subject struct {
	// Name is the image's repository or name, e.g. registry.example/app;
	// it may be empty.
	Name string
	// Digest is the image manifest digest.
	Digest v1.Hash
	// Platform is the image's platform, e.g. linux/amd64.
	Platform string
}

// Base names the base image an image was composed on.
type Base struct {
	// Name is the base reference as the spec gave it ("" for scratch).
	Name string
	// Digest is the base image's manifest digest for this platform (zero
	// for scratch).
	Digest v1.Hash
}

// Options are the optional settings of Scan and Generate.
type Options struct {
	// Sources maps a path in the image ("/usr/bin/app") to the source path
	// relative to the context that strata took it from.
	Sources map[string]string
	// Created is the document's creation time; use the image's created time
	// (the zero value means the Unix epoch). Never the wall clock.
	Created time.Time
	// Tool names the generator, e.g. "strata-v1.2.3"; default "strata".
	Tool string
	// MaxBinarySize is the size above which a file is not opened as a Go
	// binary; 0 means 1 GiB.
	MaxBinarySize int64
	// Memo, when set, remembers the inventory of every layer read, and
	// knows those recorded while strata wrote its layers or while the base
	// check read the base's: the images of many specs on one base (a
	// monorepo push) read the base once, and a layer whose inventory is
	// known is not read at all. nil reads every layer every time.
	Memo *Memo
	// Bases is Memo's former name; it is used when Memo is nil.
	Bases *BaseMemo
}

// Generate writes the SBOM of img in format f. img is the platform image,
// and its top added layers are the ones strata composed (the layers below
// are the base's).
func Generate(ctx context.Context, img v1.Image, added int, s Subject, b Base, f Format, o Options) ([]byte, error) {
	inv, err := Scan(ctx, img, added, o)
	if err != nil {
		return nil, err
	}
	return Write(inv, s, b, f, o)
}

// Write renders an inventory as a document of format f.
func Write(inv *Inventory, s Subject, b Base, f Format, o Options) ([]byte, error) {
	if s.Digest == (v1.Hash{}) {
		return nil, errors.New("sbom: the subject digest is required")
	}
	if o.Tool == "" {
		o.Tool = "strata"
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	switch f {
	case SPDX, "":
		return writeSPDX(inv, s, b, o)
	case CycloneDX:
		return writeCycloneDX(inv, s, b, o)
	}
	return nil, fmt.Errorf("sbom: unknown format %q", f)
}
