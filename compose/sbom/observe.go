package sbom

import (
	"archive/tar"
	"crypto/sha256"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BlobWatch records the inventory of one layer blob while strata writes
// it, from the entries and file contents the layer engine shows it; it
// satisfies compose/layer's BlobObserver. The inventory counts, for the
// blob's diffID, only once Commit is called: a blob that is not completed
// records nothing. Its methods are called from one goroutine.
type BlobWatch struct {
	memo *Memo
	rec  *recorder
	cur  *fileSink // the regular file being written
}

// Observe returns a BlobWatch for one layer blob about to be written. The
// inventory it records lists every regular file with its hashes and Go
// build information (read with the default MaxBinarySize), as Scan needs
// for the layers strata added.
func (m *Memo) Observe() *BlobWatch {
	return &BlobWatch{memo: m, rec: newRecorder(true, defaultMaxBinarySize)}
}

// Entry is shown each tar header of the blob, in order, before its
// content. For a regular file it returns the writer the file's content
// goes to, in order, followed by a call of EndFile; for any other entry
// nil. The writer never fails and keeps no slice it is given.
func (w *BlobWatch) Entry(h *tar.Header) io.Writer {
	if w.rec == nil {
		return nil
	}
	w.cur = w.rec.entry(h)
	if w.cur == nil {
		return nil
	}
	return w.cur
}

// EndFile ends the regular file whose content was just written, with the
// sha256 of that content.
func (w *BlobWatch) EndFile(sum [sha256.Size]byte) {
	if w.cur != nil {
		w.cur.finish(&sum)
		w.cur = nil
	}
}

// Commit records the inventory for the blob's diffID once the blob is
// stored complete.
func (w *BlobWatch) Commit(diffID v1.Hash) {
	if w.rec != nil {
		w.memo.put(diffID, &w.rec.inv)
		w.rec = nil
	}
}

// Abort drops what was recorded of a blob that was not completed.
func (w *BlobWatch) Abort() {
	w.rec, w.cur = nil, nil
}

// BaseVisit records the inventory of one base layer while the base check
// streams it: only what can change the OS package databases (whiteouts,
// opaque markers, entries at database paths and the databases' content),
// never hashing a file. It satisfies compose/basetree's LayerVisitor. The
// inventory counts only once Done is called, after the whole layer was
// read and verified.
type BaseVisit struct {
	memo *Memo
	d    v1.Hash
	rec  *recorder
}

// VisitBase returns a BaseVisit for the base layer with diffID d, or nil
// when m knows its inventory already (in memory or in its directory), so
// the layer need not be read for the SBOM.
func (m *Memo) VisitBase(d v1.Hash) *BaseVisit {
	if m.get(d, false, 0) != nil {
		return nil
	}
	return &BaseVisit{memo: m, d: d, rec: newRecorder(false, 0)}
}

// Entry is shown each tar header of the layer, in order, with a reader of
// the entry's content (valid until Entry returns); it reads the content of
// package databases only.
func (v *BaseVisit) Entry(h *tar.Header, content io.Reader) error {
	return v.rec.read(h, content)
}

// Done records the inventory: the layer was read to its end and verified.
func (v *BaseVisit) Done() {
	v.memo.put(v.d, &v.rec.inv)
}
