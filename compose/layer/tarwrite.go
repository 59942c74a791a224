package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"time"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/pgzip"

	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/pinnedgzip"
)

// entryKind is what a layer entry is.
type entryKind uint8

const (
	kindFile     entryKind = iota + 1 // regular file with content
	kindDir                           // directory
	kindSymlink                       // symbolic link, target stored verbatim
	kindHardlink                      // hard link to an earlier regular file of the layer
	kindWhiteout                      // .wh.<name>: hides a lower layer's path
	kindOpaque                        // .wh..wh..opq: hides a lower layer's directory contents
)

// String names the kind as Entry.Type does.
func (k entryKind) String() string {
	switch k {
	case kindFile:
		return "file"
	case kindDir:
		return "dir"
	case kindSymlink:
		return "symlink"
	case kindHardlink:
		return "hardlink"
	case kindWhiteout:
		return "whiteout"
	case kindOpaque:
		return "opaque"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Whiteout names (image-spec layer.md): a file named WhiteoutPrefix+NAME
// hides NAME of lower layers; OpaqueName in a directory hides all of its
// lower contents.
const (
	WhiteoutPrefix = ".wh."
	OpaqueName     = ".wh..wh..opq"
)

// layerEntry is one planned tar entry.
type layerEntry struct {
	target string // layer form: no leading "/", e.g. "usr/bin/app"; for whiteouts the hidden path
	kind   entryKind
	mode   int64 // permission and special bits
	uid    int
	gid    int
	size   int64  // content bytes (kindFile only)
	link   string // symlink target, or hard-link target in layer form
	source string // context-relative source path, "spec", or "ARCHIVE!MEMBER"
	origin string // spec field path that produced the entry, for error messages

	content *contentRef // where a kindFile's bytes come from

	onlyIfEmpty bool   // a source directory: emitted only if nothing else in the layer is below it
	group       string // hard-link group: files with the same non-empty group share one inode
}

// tarName is the entry's name in the tar stream. Directories end in "/",
// like GNU tar writes them.
func (e *layerEntry) tarName() string {
	switch e.kind {
	case kindDir:
		return e.target + "/"
	case kindWhiteout:
		return path.Join(path.Dir(e.target), WhiteoutPrefix+path.Base(e.target))
	case kindOpaque:
		return path.Join(e.target, OpaqueName)
	}
	return e.target
}

// sortKey orders entries: bytewise by target path, except that inside one
// directory the opaque marker comes first and whiteouts come before their
// siblings (image-spec layer.md: whiteouts before sibling entries), so a
// whiteout applies before anything this layer adds next to it. A directory
// sorts before its children because it is their prefix.
func (e *layerEntry) sortKey() string {
	switch e.kind {
	case kindWhiteout:
		dir, base := path.Split(e.target)
		return dir + "\x00" + base
	case kindOpaque:
		if e.target == "" {
			return "\x00\x00"
		}
		return e.target + "/\x00\x00"
	}
	return e.target
}

// header builds the entry's tar header by hand. Only the fields below are
// set: no atime/ctime, no user or group names, no xattrs or PAX records, and
// the format is left to archive/tar (USTAR when it fits, else PAX), which is a
// pure function of these fields.
func (e *layerEntry) header(created time.Time) *tar.Header {
	h := &tar.Header{
		Name:    e.tarName(),
		Mode:    e.mode,
		Uid:     e.uid,
		Gid:     e.gid,
		ModTime: created.UTC().Truncate(time.Second),
	}
	switch e.kind {
	case kindFile:
		h.Typeflag = tar.TypeReg
		h.Size = e.size
	case kindDir:
		h.Typeflag = tar.TypeDir
	case kindSymlink:
		h.Typeflag = tar.TypeSymlink
		h.Linkname = e.link
	case kindHardlink:
		h.Typeflag = tar.TypeLink
		h.Linkname = e.link
	case kindWhiteout, kindOpaque:
		h.Typeflag = tar.TypeReg
		h.Mode = 0o644
		h.Uid, h.Gid = 0, 0
	}
	return h
}

// entry reports e for plan and the layer's Entries.
func (e *layerEntry) entry() Entry {
	out := Entry{
		Target: "/" + e.target,
		Type:   e.kind.String(),
		Source: e.source,
	}
	switch e.kind {
	case kindWhiteout, kindOpaque:
		return out
	case kindFile:
		out.Size = e.size
	case kindSymlink:
		out.Link = e.link
	case kindHardlink:
		out.Link = "/" + e.link
	}
	out.Mode = fmt.Sprintf("%04o", e.mode)
	out.Owner = fmt.Sprintf("%d:%d", e.uid, e.gid)
	return out
}

// checkName rejects names that are not valid UTF-8 or hold control
// characters. what says whose name it is, for the message.
func checkName(what, name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q contains a control character", what, name)
		}
	}
	return nil
}

// layerStream is the one pass from tar entries to a stored blob: the tar
// stream is hashed (diffID) and compressed, and the compressed stream goes to
// out, which hashes it (digest) and stores or discards it.
type layerStream struct {
	tw     *tar.Writer
	gz     *pgzip.Writer
	diffID *blobstore.Hasher
}

// newLayerStream starts a layer whose compressed bytes go to out.
func newLayerStream(out io.Writer) (*layerStream, error) {
	gz, err := pinnedgzip.NewWriter(out)
	if err != nil {
		return nil, err
	}
	d := blobstore.NewHasher()
	return &layerStream{tw: tar.NewWriter(io.MultiWriter(d, gz)), gz: gz, diffID: d}, nil
}

// close ends the tar and gzip streams and returns the diffID.
func (s *layerStream) close() (v1.Hash, error) {
	if err := s.tw.Close(); err != nil {
		s.gz.Close()
		return v1.Hash{}, fmt.Errorf("writing tar: %w", err)
	}
	if err := s.gz.Close(); err != nil {
		return v1.Hash{}, fmt.Errorf("compressing: %w", err)
	}
	return s.diffID.Sum(), nil
}

// abort stops the compressor goroutines after a failure.
func (s *layerStream) abort() {
	s.gz.Close()
}

// tarEntries writes the entries (headers and contents) to tw, hashing
// every input and checking it against a hash known before (wrapping
// errChanged), and shows them to obs when it is not nil. It is the one
// loop of a layer's tar stream: the write and the diffID-only pass of
// knownLayer both use it.
func (p *planner) tarEntries(ctx context.Context, tw *tar.Writer, entries []*layerEntry, obs BlobObserver) error {
	buf := make([]byte, readBufSize)
	hook := p.req.beforeRead
	if p.req.opened != nil {
		hook = func(src string) {
			p.req.opened(src)
			if p.req.beforeRead != nil {
				p.req.beforeRead(src)
			}
		}
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := e.header(p.req.Created)
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing /%s: %w", e.target, err)
		}
		var ow io.Writer // the observer's copy of the content
		if obs != nil {
			ow = obs.Entry(h)
		}
		if e.kind == kindFile {
			var w io.Writer = tw
			if ow != nil {
				w = observedWriter{w: tw, o: ow}
			}
			sum, err := copyContent(ctx, p.req.Root, e.content, w, buf, hook, ow != nil)
			if err != nil {
				return err
			}
			if c := e.content; c.spool == nil {
				c.sum, c.hasSum = sum, true
				p.read.Add(c.stat.size)
			}
			if ow != nil {
				obs.EndFile(sum)
			}
		} else if ow != nil {
			obs.EndFile(emptySum) // a whiteout: a regular file without content
		}
	}
	return nil
}
