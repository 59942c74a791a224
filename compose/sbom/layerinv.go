package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha1" // SPDX 2.3 requires a SHA1 checksum for every file
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/ctxio"
	"github.com/strata-build/strata/internal/diffid"
)

// Layer inventories. Scan needs from each layer only what its entries do to
// the paths it lists, in layer order: an entry replaces what lower layers had
// at its path, a whiteout removes a path and everything below it, an opaque
// marker everything below a directory, and a regular file is listed (in
// strata's own layers, with its size, sha256, sha1 and Go build information)
// or, at a package database path, read for the OS packages. A layerInv holds
// exactly that, so it can be recorded once, from whatever streams the layer
// (Scan itself, the layer engine writing it, the base check reading it), and
// applied by every SBOM of an image with that layer. Recording and applying
// follow the one rule set below, so an inventory gives the same lists as
// reading the layer.

// opKind says what one entry of a layer does.
type opKind uint8

const (
	opReplace  opKind = iota + 1 // an entry other than a regular file: it replaces its path
	opWhiteout                   // .wh.NAME: removes NAME and everything below it
	opOpaque                     // .wh..wh..opq: removes everything below its directory
	opFile                       // a regular file: replaces its path and is listed
)

// op is one entry of a layer's inventory.
type op struct {
	kind opKind
	path string // cleaned, without a leading "/"; the directory for opOpaque
	// Regular files (opFile) of an inventory with files:
	size   int64
	sha256 [sha256.Size]byte
	sha1   [sha1.Size]byte
	goBin  *GoBinary
	// A regular file at a package database path (isDB): its first
	// maxDBSize bytes.
	db    []byte
	hasDB bool
}

// layerInv is the inventory of one layer.
type layerInv struct {
	ops []op
	// files is set when every regular file is in ops with its size,
	// hashes and Go information (read with maxBinary), as Scan needs for
	// the layers strata added. Without it, ops hold only what can change
	// the package databases (a base layer): whiteouts, opaque markers, and
	// entries at database paths.
	files     bool
	maxBinary int64
}

// usable reports whether inv serves a layer that Scan reads with files
// (one strata added) and the binary size limit maxBinary.
func (inv *layerInv) usable(files bool, maxBinary int64) bool {
	return inv != nil && (!files || inv.files && inv.maxBinary == maxBinary)
}

// classify returns the op of a tar header, without content: its kind and
// path.
func classify(h *tar.Header) op {
	p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
	dir, base := path.Split(p)
	switch {
	case base == ".wh..wh..opq":
		return op{kind: opOpaque, path: strings.TrimSuffix(dir, "/")}
	case strings.HasPrefix(base, ".wh."):
		return op{kind: opWhiteout, path: dir + strings.TrimPrefix(base, ".wh.")}
	case h.Typeflag != tar.TypeReg:
		return op{kind: opReplace, path: p}
	}
	return op{kind: opFile, path: p, size: h.Size}
}

// recorder builds a layer's inventory from its tar entries, in order.
type recorder struct {
	inv   layerInv
	buf   []byte    // copy buffer of read
	spill string    // where larger executables are kept while read ("": memory)
	open  *fileSink // the file being recorded, until finished
	// failed is why the inventory is not whole (a spill file could not be
	// written or read back): it is then neither kept nor served.
	failed error
	// wrapSpill, when set, wraps the writer of every spill file (a test
	// seam: a disk that fills up).
	wrapSpill func(io.Writer) io.Writer
}

// close drops what an unfinished file kept (a read that failed or was
// cancelled mid-file).
func (r *recorder) close() {
	if r.open != nil && r.open.spill != nil {
		r.open.spill.Abort()
	}
	r.open = nil
}

// newRecorder starts an inventory; with files every regular file is hashed
// and Go binaries up to maxBinary bytes are read.
func newRecorder(files bool, maxBinary int64) *recorder {
	return &recorder{inv: layerInv{files: files, maxBinary: maxBinary}}
}

// entry records the tar entry h. For a regular file whose content the
// inventory needs it returns the sink the content must be written to (in
// order) and then finished; otherwise nil.
func (r *recorder) entry(h *tar.Header) *fileSink {
	o := classify(h)
	db := (o.kind == opFile || o.kind == opReplace) && isDB(o.path)
	if !r.inv.files && !db && (o.kind == opFile || o.kind == opReplace) {
		// Below strata's layers the files map is empty and only database
		// paths are in dbs: this entry changes nothing Scan lists.
		return nil
	}
	if o.kind != opFile {
		r.inv.ops = append(r.inv.ops, o)
		return nil
	}
	s := &fileSink{r: r, op: o}
	r.close()
	r.open = s
	if r.inv.files {
		s.sha1 = sha1.New()
		s.wantGo = o.size <= r.inv.maxBinary
	}
	if db {
		s.db = &prefixBuffer{max: maxDBSize}
	}
	return s
}

// read records the entry h whose content is read from content.
func (r *recorder) read(h *tar.Header, content io.Reader) error {
	s := r.entry(h)
	if s == nil {
		return nil
	}
	if !r.inv.files {
		content = io.LimitReader(content, maxDBSize)
	} else {
		s.sha256 = sha256.New()
	}
	if r.buf == nil {
		r.buf = make([]byte, 64<<10)
	}
	if _, err := io.CopyBuffer(s, content, r.buf); err != nil {
		return fmt.Errorf("%s: %w", s.op.path, err)
	}
	s.finish(nil)
	return nil
}

// fileSink takes one regular file's content and keeps what its op needs.
type fileSink struct {
	r      *recorder
	op     op
	sha1   hash.Hash // with files
	sha256 hash.Hash // with files, when the caller does not give the sum
	wantGo bool      // an executable is read for Go build information
	head   [4]byte   // the first bytes, to tell an executable
	nhead  int
	exec   *bytes.Buffer // the whole content of a small executable
	// spill holds a larger executable's content, in a temporary file in
	// the recorder's spill directory: a 100 MB binary is not held in memory
	// to read its build information.
	spill *atomicfile.File
	db    *prefixBuffer // a package database's content
}

// spillPrefix starts the names of spill files (after atomicfile.TempPrefix).
const spillPrefix = "gobin-"

// spillMin is the size from which an executable's content goes to a
// temporary file rather than memory, when the recorder has a directory.
const spillMin = 1 << 20

func (s *fileSink) Write(p []byte) (int, error) {
	if s.sha1 != nil {
		s.sha1.Write(p)
	}
	if s.sha256 != nil {
		s.sha256.Write(p)
	}
	if s.db != nil {
		s.db.Write(p)
	}
	rest := p
	if s.nhead < len(s.head) {
		k := copy(s.head[s.nhead:], p)
		s.nhead += k
		rest = p[k:]
		if s.nhead == len(s.head) && s.wantGo && isExecutable(s.head[:]) {
			s.startExec()
		}
	}
	if s.exec != nil {
		s.exec.Write(rest)
	} else if s.spill != nil {
		if n, err := s.spill.Write(rest); err != nil {
			s.unspill(rest[n:], err)
		}
	}
	return len(p), nil
}

// unspill moves an executable's content from its spill file, which could
// not be written (a full disk), to memory: what the file holds, then rest.
// If the file cannot be read back, the inventory is not whole (failed).
func (s *fileSink) unspill(rest []byte, werr error) {
	f := s.spill
	s.spill = nil
	defer f.Abort()
	buf := make([]byte, f.Size(), s.op.size)
	if _, err := f.OS().ReadAt(buf, 0); err != nil {
		if s.r.failed == nil {
			s.r.failed = fmt.Errorf("keeping %s to read its Go build information: %w", s.op.path, errors.Join(werr, err))
		}
		return
	}
	s.exec = bytes.NewBuffer(buf)
	s.exec.Write(rest)
}

// startExec starts keeping an executable's content: in a temporary file of
// the spill directory from spillMin bytes, else (or when that fails) in
// memory.
func (s *fileSink) startExec() {
	if dir := s.r.spill; dir != "" && s.op.size >= spillMin {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			if f, err := atomicfile.Create(dir, spillPrefix+"*"); err == nil {
				f.Wrap(s.r.wrapSpill)
				if _, err := f.Write(s.head[:]); err == nil {
					s.spill = f
					return
				}
				f.Abort()
			}
		}
	}
	s.exec = bytes.NewBuffer(make([]byte, 0, s.op.size))
	s.exec.Write(s.head[:])
}

// finish ends the file: sum is the sha256 of its content when the caller
// computed it (nil: the sink did). It appends the file's op.
func (s *fileSink) finish(sum *[sha256.Size]byte) {
	o := s.op
	if s.sha1 != nil {
		s.sha1.Sum(o.sha1[:0])
		if sum != nil {
			o.sha256 = *sum
		} else {
			s.sha256.Sum(o.sha256[:0])
		}
		if s.exec != nil {
			o.goBin = readGoBinary(s.exec.Bytes())
		} else if s.spill != nil {
			o.goBin = readGoBinaryAt(s.spill.OS())
			s.spill.Abort()
		}
	}
	if s.db != nil {
		o.db, o.hasDB = s.db.Bytes(), true
	}
	s.r.inv.ops = append(s.r.inv.ops, o)
	if s.r.open == s {
		s.r.open = nil
	}
}

// scanInventory reads the inventory of l from its uncompressed stream.
func scanInventory(ctx context.Context, l v1.Layer, files bool, maxBinary int64, spill string) (*layerInv, error) {
	rc, err := ctxio.Uncompressed(ctx, l)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// The inventory is kept by diffID, which a registry's config only
	// claims: the stream is hashed to its end and must match it, so that a
	// layer cannot leave its inventory under another layer's diffID.
	want, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	checked := diffid.Reader(rc, want)
	tr := tar.NewReader(checked)
	r := newRecorder(files, maxBinary)
	r.spill = spill
	defer r.close()
	for {
		h, err := tr.Next()
		if err == io.EOF {
			if _, err := io.Copy(io.Discard, checked); err != nil {
				return nil, err
			}
			return &r.inv, r.failed
		}
		if err != nil {
			return nil, err
		}
		if err := r.read(h, tr); err != nil {
			return nil, err
		}
	}
}

// apply applies the layer's inventory to what the layers below it left:
// files (by path with a leading "/") and dbs (database contents by path
// without). mine is set for a layer strata added (its files are listed,
// with their source from sources); inv must then have files.
func (inv *layerInv) apply(files map[string]File, dbs map[string][]byte, mine bool, sources map[string]string) {
	for i := range inv.ops {
		o := &inv.ops[i]
		switch o.kind {
		case opOpaque:
			removeUnder(files, dbs, o.path)
			continue
		case opWhiteout:
			removeUnder(files, dbs, o.path)
		}
		delete(files, "/"+o.path)
		delete(dbs, o.path)
		if o.kind != opFile {
			continue
		}
		if o.hasDB {
			dbs[o.path] = o.db
		}
		if mine {
			p := "/" + o.path
			files[p] = File{Path: p, Size: o.size, SHA256: hex.EncodeToString(o.sha256[:]), SHA1: hex.EncodeToString(o.sha1[:]),
				Source: sources[p], Go: o.goBin}
		}
	}
}

// removeUnder drops every file and database below dir ("" is the root).
func removeUnder(files map[string]File, dbs map[string][]byte, dir string) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for p := range files {
		if strings.HasPrefix(p, "/"+prefix) {
			delete(files, p)
		}
	}
	for p := range dbs {
		if strings.HasPrefix(p, prefix) {
			delete(dbs, p)
		}
	}
}
