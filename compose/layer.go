package compose

import (
	"context"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/spec"
)

// layerRequest asks for one spec layer built for one platform.
type layerRequest struct {
	Spec     *spec.Spec // the whole spec, for error positions (Spec.Errorf)
	Index    int        // index into Spec.Layers
	Root     *os.Root   // the context directory; every source is read through it
	Platform spec.Platform
	Created  time.Time  // mtime of every entry
	Store    *blobStore // where compressed layer blobs go
	DryRun   bool       // compute digests but store nothing (plan)

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

// builtLayer is one built layer and what is in it.
type builtLayer struct {
	Name    string   // spec name, or "layer-<index>"
	Layer   v1.Layer // nil when the layer has no entries (it is then not emitted)
	Entries []Entry  // every tar entry, in layer order (whiteouts included)
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

// buildLayerFunc is the signature of buildLayer, so the image assembly can be
// tested with a stand-in.
type buildLayerFunc func(ctx context.Context, req layerRequest) (*builtLayer, error)
