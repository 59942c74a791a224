// Package layer is strata's layer engine: it turns one layer of a spec, for
// one platform, into a deterministic OCI layer blob.
//
// [Build] plans the layer's entries (context files matched by globs, archive
// members, declared directories and symlinks, whiteouts for deletes and
// clears), sorts them, writes each tar header by hand, and streams
// tar → sha256 (diffID) → pinned gzip → sha256 (digest) → blob store in one
// pass. It reuses a stored layer when the inputs did not change (the layer
// cache, keyed by content and by inode data; see cache.go). Nothing is
// executed and no byte from outside the context directory is read.
//
// It imports spec and strata's internal blob store and compressor; it knows
// nothing of bases, images, outputs or registries.
package layer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/semaphore"

	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/spec"
)

// Request asks for one spec layer built for one platform.
type Request struct {
	Spec     *spec.Spec // the whole spec, for error positions (Spec.Errorf)
	Index    int        // index into Spec.Layers
	Root     *os.Root   // the context directory; every source is read through it
	Platform spec.Platform
	Created  time.Time        // mtime of every entry
	Store    *blobstore.Store // where compressed layer blobs go
	DryRun   bool             // compute digests but store nothing (plan)
	// KeyOnly hashes the inputs and returns only the layer's content key
	// (Built.Key): no tar is written and nothing is compressed or stored.
	// A stored stat record that carries the content key answers without
	// reading any input.
	KeyOnly bool
	// Budget is the caller's concurrency budget, of which this layer's
	// build already holds one unit: hashing the layer's inputs adds workers
	// only for units that are free (TryAcquire), so layers and hashing
	// together never exceed it. nil hashes one file at a time.
	Budget *semaphore.Weighted
	// Ignore is the context's ignore file (ReadIgnore): the paths it
	// matches are not in the context for src globs and directory walks,
	// and it is part of the layer cache keys. nil ignores nothing.
	Ignore *Ignore
	// Logger receives warnings (a corrupt cached layer evicted and built
	// again); nil discards them.
	Logger *slog.Logger
	// Tee, when set, is called for every layer blob this build compresses
	// (not for layers taken from the cache, nor for a dry run): the blob's
	// bytes are copied to the BlobTee as they leave the compressor, and it
	// is committed once the blob is stored. A tee that fails is dropped;
	// the build goes on and stores the blob as always.
	Tee func(ctx context.Context) (BlobTee, error)

	// Known, when set, is asked for a layer that is not in the layer cache,
	// by its content key, before it is compressed: a non-nil answer (a
	// layer a registry already holds, from the registry cache) is used as
	// it is, and nothing is written or stored. A layer with split: auto is
	// never asked for. Its inputs are hashed ahead of the write to know the
	// key.
	Known func(ctx context.Context, key string) v1.Layer
	// Sums, when set, is shared by the builds of one command (a push's key
	// pass and its build): an input hashed by one is not read again by the
	// next while its stat is unchanged, even within the racy window the
	// sums record leaves out (see Sums).
	Sums *Sums
	// Observe, when set, is called for every layer blob this build writes
	// to the store (not for layers or parts taken from the cache, nor for
	// a dry run or KeyOnly) and returns the BlobObserver shown the blob's
	// tar entries and file contents as they are written (nil: none). It
	// costs the write no extra read: the observer gets the bytes that
	// pass anyway.
	Observe func(ctx context.Context) BlobObserver

	// beforeRead, when set, runs after a context file is opened to be
	// written into the layer and before its bytes are copied (a test seam for
	// files changing while read).
	beforeRead func(source string)
	// now, when set, replaces time.Now as the build's start time that the
	// racy rule compares input ctimes with (a test seam: files a test has
	// just written are always racy; see layercache.go).
	now func() time.Time
	// opened, when set, runs whenever a context file is opened to be read,
	// in the key pass and in the write pass (a test seam: a stat-key hit
	// opens nothing).
	opened func(source string)
}

// Built is one built layer and what is in it.
type Built struct {
	Name    string   // spec name, or "layer-<index>"
	Layer   v1.Layer // nil when the layer has no entries, or is split (see Parts)
	Entries []Entry  // every tar entry, in layer order (whiteouts included)
	// Parts are the image layers of a layer with split: auto, in image
	// order; Entries then lists their entries one part after the other.
	Parts []Part
	// Cached is true when the layer was taken from the layer cache and
	// nothing was compressed.
	Cached bool
	// Registry is true when the layer is one a registry holds
	// (Request.Known): nothing was compressed or stored; Cached is set too.
	Registry bool
	// Key is the layer's content key (see cache.go): a sha256 over the
	// layer format, the created time, the layer's spec and every input's
	// content hash. "" for an empty layer, or when the layer came from a
	// stat record written before the key was recorded. With
	// Request.KeyOnly it is the only field set besides Read.
	Key string
	// Read is how many bytes of context files (archives included) this
	// build read to hash or write them; 0 for a stat-record hit.
	Read int64
	// Compressed is the size of the blob this build compressed and
	// stored; 0 when the layer came from the layer cache or was not
	// stored (a dry run or KeyOnly).
	Compressed int64
}

// Part is one image layer of a built spec layer.
type Part struct {
	Layer   v1.Layer
	Entries []Entry // the part's tar entries, in layer order
	Cached  bool    // taken from the layer cache, not compressed by this build
	// Registry is set for a layer a registry holds (Built.Registry).
	Registry bool
	// Key is the layer's content key when the part is a whole spec layer
	// ("" for the parts of a split layer).
	Key string
}

// Emitted returns the image layers b becomes, in order: its parts, its one
// layer, or none for an empty layer.
func (b *Built) Emitted() []Part {
	switch {
	case b == nil:
		return nil
	case b.Parts != nil:
		return b.Parts
	case b.Layer != nil:
		return []Part{{Layer: b.Layer, Entries: b.Entries, Cached: b.Cached, Registry: b.Registry, Key: b.Key}}
	}
	return nil
}

// Entry describes one tar entry of a layer, for plan and reports.
type Entry struct {
	Target string `json:"target"`           // path in the image, with a leading "/"
	Type   string `json:"type"`             // file, dir, symlink, hardlink, whiteout, opaque
	Mode   string `json:"mode,omitempty"`   // octal, e.g. "0644"
	Owner  string `json:"owner,omitempty"`  // uid:gid
	Size   int64  `json:"size,omitempty"`   // bytes of content for files
	Source string `json:"source,omitempty"` // context-relative source path, or "spec" for declared entries
	Link   string `json:"link,omitempty"`   // symlink or hard-link target
}

// BlobTee receives a copy of one layer blob while it is written, e.g. to
// upload it at the same time (see Request.Tee).
type BlobTee interface {
	io.Writer
	// Commit ends the copy of a blob with the given digest and size.
	Commit(ctx context.Context, digest v1.Hash, size int64) error
	// Abort ends the copy of a blob that will not be completed.
	Abort()
}

// BuildFunc is the signature of Build, so the image assembly can be
// tested with a stand-in.
type BuildFunc func(ctx context.Context, req Request) (*Built, error)

// PlatformDependent reports whether a layer's inputs can differ between
// platforms: any ${TARGET…} reference in a file's source, exclusion, target
// or checksum. A layer that is not is built once and shared by all
// platforms.
func PlatformDependent(l *spec.Layer) bool {
	for _, f := range l.Files {
		for _, s := range append([]string{f.Src, f.Dest, f.Sha256}, f.Exclude...) {
			if strings.Contains(s, "${TARGET") {
				return true
			}
		}
	}
	return false
}

// Name is the name layer i of s shows in history and reports: its name in
// the spec, else "layer-<i>".
func Name(s *spec.Spec, i int) string {
	if s.Layers[i].Name != "" {
		return s.Layers[i].Name
	}
	return fmt.Sprintf("layer-%d", i)
}
