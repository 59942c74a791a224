package sbom

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/strata-build/strata/internal/atomicfile"
)

// Memo remembers the inventory of every layer (by diffID) that Scan read, or
// that was recorded while strata wrote the layer ([Memo.Observe]) or while
// the base check streamed it ([Memo.VisitBase]), so that the SBOMs of one
// command read no layer twice and, often, none at all. A Memo made by
// NewMemo also stores the inventories in a directory and finds them there in
// later commands (a layer taken from the local layer cache then needs no
// read either).
//
// An inventory depends only on the layer's bytes, so what a Memo answers
// for a layer is what reading it would give; one it does not have (or whose
// file is missing or corrupt) is read from the layer. The zero value
// remembers in memory only. A Memo is safe for concurrent use.
type Memo struct {
	dir  string // "" stores nothing
	mu   sync.Mutex
	m    map[v1.Hash]*layerInv
	busy map[v1.Hash]chan struct{} // layers being scanned
	// chunks recycles the copies of file content a BlobWatch hands to its
	// worker.
	chunks sync.Pool
	// spillClean removes, once, the spill files a killed process left in dir.
	spillClean sync.Once
}

// spillDir is where executables are kept while their build information is
// read (dir; "" keeps them in memory). Its first call removes the spill
// files a killed process left there.
func (m *Memo) spillDir() string {
	if m.dir != "" {
		m.spillClean.Do(func() { atomicfile.RemoveStale(m.dir, spillPrefix, time.Now()) })
	}
	return m.dir
}

// BaseMemo is the name Memo had when it remembered base layers only; it is
// the same type.
type BaseMemo = Memo

// NewMemo returns a Memo that stores every inventory it learns in dir (one
// file per layer, named by diffID) and looks there for those it does not
// know; "" stores nothing.
func NewMemo(dir string) *Memo { return &Memo{dir: dir} }

// get returns the inventory of the layer with diffID d, from memory or
// from the directory, if one is usable (see layerInv.usable).
func (m *Memo) get(d v1.Hash, files bool, maxBinary int64) *layerInv {
	m.mu.Lock()
	inv := m.m[d]
	m.mu.Unlock()
	if inv.usable(files, maxBinary) {
		return inv
	}
	if m.dir == "" {
		return nil
	}
	inv, err := loadInventory(m.dir, d)
	if err != nil || !inv.usable(files, maxBinary) {
		return nil
	}
	m.remember(d, inv)
	return inv
}

// remember keeps inv for d in memory unless what is there serves more (an
// inventory with files is never replaced by one without). It reports
// whether inv was kept.
func (m *Memo) remember(d v1.Hash, inv *layerInv) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.m[d]; old != nil && old.files && !inv.files {
		return false
	}
	if m.m == nil {
		m.m = map[v1.Hash]*layerInv{}
	}
	m.m[d] = inv
	return true
}

// put records a new inventory of d, in memory and in the directory.
// Failing to store it only costs a later command a read of the layer.
func (m *Memo) put(d v1.Hash, inv *layerInv) {
	if m.remember(d, inv) && m.dir != "" {
		_ = saveInventory(m.dir, d, inv)
	}
}

// inventory returns the inventory of l, read from l when m (which may be
// nil) does not know it; with files it lists every regular file (a layer
// strata added). Two calls for one layer read it once.
func (m *Memo) inventory(ctx context.Context, l v1.Layer, files bool, maxBinary int64) (*layerInv, error) {
	if m == nil {
		return scanInventory(ctx, l, files, maxBinary, "")
	}
	d, err := l.DiffID()
	if err != nil {
		return nil, fmt.Errorf("layer diffID: %w", err)
	}
	for {
		if inv := m.get(d, files, maxBinary); inv != nil {
			return inv, nil
		}
		m.mu.Lock()
		wait := m.busy[d]
		if wait == nil {
			if m.busy == nil {
				m.busy = map[v1.Hash]chan struct{}{}
			}
			m.busy[d] = make(chan struct{})
		}
		m.mu.Unlock()
		if wait == nil {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	inv, err := scanInventory(ctx, l, files, maxBinary, m.spillDir())
	if err == nil {
		m.put(d, inv)
	}
	m.mu.Lock()
	close(m.busy[d])
	delete(m.busy, d)
	m.mu.Unlock()
	return inv, err
}
