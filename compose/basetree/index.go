package basetree

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/ctxio"
	"github.com/strata-build/strata/internal/diffid"
)

// Limits on what a base layer's headers may hold. Base layers are hostile
// input: a layer with more entries than this is an error, and entries whose
// names are longer than maxTreeName bytes (no runtime can create them) are
// ignored.
const (
	maxTreeEntries = 1 << 20
	maxTreeName    = 4096
)

// Kinds of treeRec, one byte each (also the on-disk format).
const (
	recDir      = 'd'
	recFile     = 'f'
	recSymlink  = 'l'
	recHardlink = 'h'
	recChar     = 'c'
	recBlock    = 'b'
	recFifo     = 'p'
	recWhiteout = 'w' // name is the path the whiteout removes
	recOpaque   = 'o' // name is the directory whose lower contents are hidden
)

// treeRec is one tar header of a layer, reduced to what the path checks
// need: its kind, its normalised name (no leading "/" or "./") and, for
// links, the link target.
type treeRec struct {
	kind byte
	name string
	link string
}

// treeIndexFormat starts every cached index file; a change of format
// changes it, so old files are simply rebuilt.
const treeIndexFormat = "strata-treeindex 1\n"

// IndexFile is where the header index of the layer with diffID is cached
// under cacheDir (a registry cache may bring it: compose.WithBaseFiles).
func IndexFile(cacheDir string, diffID v1.Hash) string { return treeIndexPath(cacheDir, diffID) }

// treeIndexPath is where the header index of the layer with diffID is cached.
func treeIndexPath(cacheDir string, diffID v1.Hash) string {
	return filepath.Join(cacheDir, "treeindex", diffID.Algorithm+"-"+diffID.Hex+".gz")
}

// baseLayerIndex returns the header index of the base layer l. It is read
// from CACHE/treeindex/<diffID hex>.gz when present; otherwise l's
// uncompressed stream is read (headers only) and the index is stored there,
// unless save is false. A missing or corrupt index file is rebuilt; failing
// to store it only costs the next build a rescan. When visit (which may be
// nil) returns a visitor for the layer, the layer is streamed even with a
// cached index, the visitor shown every entry on the way and told Done at
// the end; if that stream fails, the cached index still serves the check.
func baseLayerIndex(ctx context.Context, l v1.Layer, cacheDir string, save, onlyVisited bool, visit func(v1.Hash) LayerVisitor, preloaded func(v1.Hash) []byte) ([]treeRec, error) {
	diffID, err := l.DiffID()
	if err != nil {
		return nil, fmt.Errorf("base layer diffID: %w", err)
	}
	var v LayerVisitor
	if visit != nil {
		v = visit(diffID)
	}
	file := treeIndexPath(cacheDir, diffID)
	if v == nil && onlyVisited {
		return nil, nil // the check is skipped and no visitor wants the layer
	}
	cached, cerr := readTreeIndex(file)
	if cerr != nil && preloaded != nil {
		if data := preloaded(diffID); data != nil {
			if recs, err := decodeTreeIndex(bytes.NewReader(data)); err == nil {
				cached, cerr, save = recs, nil, false // used, never stored
			}
		}
	}
	if cerr == nil && v == nil {
		return cached, nil
	}
	recs, err := scanLayerHeaders(ctx, l, v)
	if err != nil {
		if cerr == nil {
			return cached, nil // only the visit failed
		}
		return nil, fmt.Errorf("reading base layer %s: %w", diffID, err)
	}
	if v != nil {
		v.Done()
	}
	if save && cerr != nil {
		_ = writeTreeIndex(file, recs) // a cache: failing to store it is not an error
	}
	return recs, nil
}

// LayerVisitor is shown one base layer's entries while Index reads its
// headers (see Options.Visit), so that something else that needs the
// layer's content (the SBOM's package databases) takes it from the same
// stream instead of reading the layer again.
type LayerVisitor interface {
	// Entry is shown each tar header in layer order, with a reader of the
	// entry's content that is valid until Entry returns; reading it is
	// optional (what is not read is skipped). An error stops the read.
	Entry(h *tar.Header, content io.Reader) error
	// Done is called once the whole layer was read and its digest
	// verified; a read that fails or is cancelled never calls it.
	Done()
}

// streamLayer is implemented by registry base layers, which can stream
// their uncompressed bytes without storing the blob (verified when read to
// the end).
type streamLayer interface {
	StreamUncompressed(ctx context.Context) (io.ReadCloser, error)
}

// scanLayerHeaders reads the tar headers of l's uncompressed stream without
// reading any file content into memory (tar.Reader.Next skips what v, when
// set, does not read). A registry layer is streamed, never stored, and read
// to its end so that its digest is verified before the index is trusted.
func scanLayerHeaders(ctx context.Context, l v1.Layer, v LayerVisitor) ([]treeRec, error) {
	var rc io.ReadCloser
	var err error
	if sl, ok := l.(streamLayer); ok {
		rc, err = sl.StreamUncompressed(ctx)
	} else {
		rc, err = ctxio.Uncompressed(ctx, l)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// The index (and what a visitor saw) is kept by diffID, which a
	// registry's config only claims: the uncompressed stream is hashed and
	// must match it, so a base cannot make a later build trust its index
	// (or SBOM inventory) for another layer.
	want, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	r := diffid.Reader(rc, want)
	recs, err := scanHeaders(ctx, r, v)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	return recs, nil
}

// scanHeaders reads the tar stream r, headers only, showing each entry to
// v when it is not nil.
func scanHeaders(ctx context.Context, r io.Reader, v LayerVisitor) ([]treeRec, error) {
	tr := tar.NewReader(r)
	var recs []treeRec
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if n >= maxTreeEntries {
			return nil, fmt.Errorf("more than %d entries; strata cannot check paths against it", maxTreeEntries)
		}
		h, err := tr.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		if v != nil {
			if err := v.Entry(h, tr); err != nil {
				return nil, err
			}
		}
		if r, ok := headerRec(h); ok {
			recs = append(recs, r)
		}
	}
}

// headerRec turns a tar header into a treeRec. Entries that no runtime would
// apply (a ".." component, the root itself, a NUL, an over-long name) are
// dropped.
func headerRec(h *tar.Header) (treeRec, bool) {
	name, ok := cleanTreeName(h.Name)
	if !ok {
		return treeRec{}, false
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if base == layer.OpaqueName {
		return treeRec{kind: recOpaque, name: dir}, true
	}
	if rest, ok := strings.CutPrefix(base, layer.WhiteoutPrefix); ok {
		if rest == "" || rest == "." || rest == ".." {
			return treeRec{}, false
		}
		return treeRec{kind: recWhiteout, name: path.Join(dir, rest)}, true
	}
	r := treeRec{name: name}
	switch h.Typeflag {
	case tar.TypeDir:
		r.kind = recDir
	case tar.TypeSymlink:
		r.kind, r.link = recSymlink, h.Linkname
	case tar.TypeLink:
		r.kind, r.link = recHardlink, h.Linkname
	case tar.TypeChar:
		r.kind = recChar
	case tar.TypeBlock:
		r.kind = recBlock
	case tar.TypeFifo:
		r.kind = recFifo
	default:
		r.kind = recFile
	}
	if strings.IndexByte(r.link, 0) >= 0 || len(r.link) > maxTreeName {
		r.link = ""
	}
	return r, true
}

// cleanTreeName normalises a tar entry name: no leading "/" or "./", no
// trailing "/", cleaned; ok is false for names a runtime would not apply.
func cleanTreeName(name string) (string, bool) {
	if len(name) > maxTreeName || strings.IndexByte(name, 0) >= 0 {
		return "", false
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", false
		}
	}
	name = strings.TrimLeft(path.Clean("/"+name), "/")
	if name == "" {
		return "", false
	}
	return name, true
}

// readTreeIndex reads an index file written by writeTreeIndex.
func readTreeIndex(file string) ([]treeRec, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeTreeIndex(bufio.NewReader(f))
}

// decodeTreeIndex decodes what encodeTreeIndex wrote. Records are
// "KIND NAME \0 LINK \0"; the last line is "end COUNT", so a short file is
// an error, and gzip's checksum catches corruption. What it reads may come
// from a registry (WithPreloaded): only known kinds and names and links of
// at most maxTreeName bytes are taken, at most maxTreeEntries records, and
// at most maxIndexBytes of decompressed input.
func decodeTreeIndex(r io.Reader) ([]treeRec, error) { return decodeTreeIndexMax(r, maxIndexBytes) }

// decodeTreeIndexMax is decodeTreeIndex with max decompressed bytes.
func decodeTreeIndexMax(r io.Reader, max int64) ([]treeRec, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	lr := &io.LimitedReader{R: zr, N: max + 1}
	br := bufio.NewReader(lr)
	head := make([]byte, len(treeIndexFormat))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != treeIndexFormat {
		return nil, errors.New("not a tree index")
	}
	var recs []treeRec
	for {
		kind, err := br.ReadByte()
		if err != nil {
			return nil, indexErr(lr, err)
		}
		if kind == '\n' {
			break
		}
		if !strings.ContainsRune(recKinds, rune(kind)) {
			return nil, fmt.Errorf("tree index: unknown kind %q", kind)
		}
		name, err := readField(br)
		if err != nil {
			return nil, indexErr(lr, err)
		}
		link, err := readField(br)
		if err != nil {
			return nil, indexErr(lr, err)
		}
		if len(recs) >= maxTreeEntries {
			return nil, errors.New("too many entries")
		}
		recs = append(recs, treeRec{kind: kind, name: name, link: link})
	}
	tail, err := io.ReadAll(io.LimitReader(br, 64))
	if err != nil {
		return nil, err
	}
	if string(tail) != "end "+strconv.Itoa(len(recs))+"\n" {
		return nil, errors.New("truncated tree index")
	}
	return recs, nil
}

// maxIndexBytes bounds an index's decompressed size (a million entries of
// long names).
const maxIndexBytes = 256 << 20

// recKinds lists every treeRec kind.
const recKinds = "dflhcbpwo"

// readField reads one NUL-terminated field of at most maxTreeName bytes.
func readField(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if c == 0 {
			return string(b), nil
		}
		if len(b) >= maxTreeName {
			return "", fmt.Errorf("tree index: a name or link over %d bytes", maxTreeName)
		}
		b = append(b, c)
	}
}

// indexErr says that an index was too large rather than short when its
// limit was reached.
func indexErr(lr *io.LimitedReader, err error) error {
	if lr.N <= 0 {
		return errors.New("tree index: too large decompressed")
	}
	return err
}

// CheckIndex decodes an index file's bytes (as IndexFile holds them) and
// reports whether it is one; a registry cache's copy is checked with it
// before use.
func CheckIndex(data []byte) error {
	_, err := decodeTreeIndex(bytes.NewReader(data))
	return err
}

// writeTreeIndex stores recs at file atomically.
func writeTreeIndex(file string, recs []treeRec) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	data, err := encodeTreeIndex(recs)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(file, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, nil)
}

// encodeTreeIndex encodes recs for decodeTreeIndex.
func encodeTreeIndex(recs []treeRec) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	bw := bufio.NewWriter(zw)
	bw.WriteString(treeIndexFormat)
	for _, r := range recs {
		bw.WriteByte(r.kind)
		bw.WriteString(r.name)
		bw.WriteByte(0)
		bw.WriteString(r.link)
		bw.WriteByte(0)
	}
	fmt.Fprintf(bw, "\nend %d\n", len(recs))
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
