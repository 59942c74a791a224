package layer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/pinnedgzip"
)

// Split layers. A spec layer with `split: auto` becomes several image
// layers ("parts"), so that a change to one file changes one small layer,
// adding or removing a file leaves the other parts as they were, and every
// machine cuts the same way. The rule:
//
//  1. Whiteouts (delete) and opaque markers (clear) form the first part, on
//     their own, so everything the layer adds lies above them, exactly as in
//     one layer where whiteouts hide only lower layers.
//  2. The other entries, in layer order (by path, a directory before its
//     children), are cut into consecutive runs. Each entry weighs 512 bytes
//     plus its content size. A run ends after an entry whose path hashes
//     below its weight: with h the first 8 bytes (big-endian) of
//     sha256("strata-split/1\x00" + path) and B the size budget, the run
//     ends when h mod B < weight (always, for an entry of B bytes or more).
//     A run thus holds about B bytes on average, and whether a run ends
//     after a given entry depends on that entry alone: adding, removing or
//     changing a file changes only the run it is in (and, when its own cut
//     moves, the run after it).
//  3. B is the smallest power of two that is at least 4 MiB and at least
//     1/32 of the layer's total weight. It depends on the total only
//     through a power of two, so it stays put unless the layer doubles or
//     halves; a big layer becomes 16 to 32 parts on average, never hundreds.
//  4. A hard link goes into the part of the file it links to, which is
//     never after its own place.
//
// Each part is a complete layer with the same tar rules, compressor and
// mtime as an unsplit layer; its digest depends only on its own entries.
// Parts are also cached on their own (record kind "part", keyed by their
// entries and content hashes). When the layer was stored before (the shape
// key hits, or the split marker of the same layer spec exists) every input
// is hashed ahead of the write, and only the parts whose files changed are
// compressed.

// splitMinBudget is the smallest size budget of a run.
const splitMinBudget = 4 << 20

// Record kinds of split layers: a cached part, and the marker that a
// split layer with this spec was stored before (its key covers the layer's
// spec, format and created time, not its entries).
const (
	recPart      = "part"
	recSplitMark = "split"
)

// splitMarkKey is the key of the split marker.
func (p *planner) splitMarkKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "strata-%s-key/1\n%s\n", recSplitMark, p.keyLines[0].text)
	return hex.EncodeToString(h.Sum(nil))
}

// splitBuiltBefore reports whether a split layer with this spec was stored
// before, so that hashing the inputs ahead of the write likely lets parts
// be reused (after a file was added, removed or resized; an edit that
// keeps every size is found by the shape key already).
func (p *planner) splitBuiltBefore() bool {
	return p.layer.Split != "" && len(p.keyLines) > 0 && hasRecord(p.req.Store, recSplitMark, p.splitMarkKey())
}

// splitEntries partitions a finalized entry list into parts (see "Split
// layers"). Each part keeps the order of list; no part is empty.
func splitEntries(list []*layerEntry) [][]*layerEntry {
	var wh, rest []*layerEntry
	var total uint64
	for _, e := range list {
		if e.kind == kindWhiteout || e.kind == kindOpaque {
			wh = append(wh, e)
			continue
		}
		rest = append(rest, e)
		total += splitWeight(e)
	}
	var parts [][]*layerEntry
	if len(wh) > 0 {
		parts = append(parts, wh)
	}
	budget := splitBudget(total)
	partOf := map[string]int{} // target → index in parts, for hard links
	var run []*layerEntry
	for _, e := range rest {
		if e.kind == kindHardlink {
			// The link's file is in a closed part, or else in the run
			// being collected (a missing file, which finalize never
			// produces, also keeps the link in the run).
			if i, ok := partOf[e.link]; ok && i < len(parts) {
				parts[i] = append(parts[i], e)
				continue
			}
		}
		run = append(run, e)
		partOf[e.target] = len(parts)
		if e.kind != kindHardlink && splitCut(e, budget) {
			parts = append(parts, run)
			run = nil
		}
	}
	if len(run) > 0 {
		parts = append(parts, run)
	}
	return parts
}

// splitWeight is an entry's weight: its tar header and its content.
func splitWeight(e *layerEntry) uint64 {
	w := uint64(512)
	if e.kind == kindFile && e.size > 0 {
		w += uint64(e.size)
	}
	return w
}

// splitBudget is B: the smallest power of two ≥ splitMinBudget and ≥
// total/32.
func splitBudget(total uint64) uint64 {
	want := max(total/32, splitMinBudget)
	b := uint64(1) << (64 - bits.LeadingZeros64(want-1))
	return b
}

// splitCut reports whether a run ends after e.
func splitCut(e *layerEntry, budget uint64) bool {
	w := splitWeight(e)
	if w >= budget {
		return true
	}
	sum := sha256.Sum256([]byte("strata-split/1\x00" + e.target))
	return binary.BigEndian.Uint64(sum[:8])&(budget-1) < w
}

// partKey is the key of a part's record: everything its bytes depend on.
// ok is false when a file's content hash is not known yet.
func (p *planner) partKey(entries []*layerEntry) (string, bool) {
	h := sha256.New()
	fmt.Fprintf(h, "strata-part-key/1\n%s\ncreated %d\n", pinnedgzip.Format, p.req.Created.Unix())
	for _, e := range entries {
		fmt.Fprintf(h, "entry %q %d %o %d %d %d %q", e.target, e.kind, e.mode, e.uid, e.gid, e.size, e.link)
		if e.kind == kindFile {
			c := e.content
			if c == nil || !c.hasSum {
				return "", false
			}
			fmt.Fprintf(h, " sum %x", c.sum)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// writeSplit writes the parts of a split layer, reusing cached parts whose
// key is known, and returns the record of the whole layer.
func (p *planner) writeSplit(ctx context.Context, entries []*layerEntry) (*layerRecord, error) {
	groups := splitEntries(entries)
	store := p.req.Store
	if p.req.DryRun {
		store = nil
	}
	rec := &layerRecord{}
	for _, g := range groups {
		pr := partRecord{Entries: make([]Entry, len(g))}
		for k, e := range g {
			pr.Entries[k] = e.entry()
		}
		var cached *layerRecord
		if store != nil {
			if key, ok := p.partKey(g); ok {
				cached, _ = loadRecord(store, recPart, key, p.req.Logger)
			}
		}
		if cached != nil {
			pr.Digest, pr.DiffID, pr.Size, pr.cached = cached.Digest, cached.DiffID, cached.Size, true
		} else {
			digest, diffID, size, err := p.write(ctx, g)
			if err != nil {
				return nil, err
			}
			pr.Digest, pr.DiffID, pr.Size = digest.String(), diffID.String(), size
			if store != nil {
				// The write pass hashed every file of the part.
				if key, ok := p.partKey(g); ok {
					r := &layerRecord{Key: key, Digest: pr.Digest, DiffID: pr.DiffID, Size: pr.Size}
					if err := saveRecord(store, recPart, r); err != nil {
						return nil, err
					}
				}
			}
		}
		rec.Parts = append(rec.Parts, pr)
	}
	rec.Digest, rec.DiffID, rec.Size = rec.Parts[0].Digest, rec.Parts[0].DiffID, rec.Parts[0].Size
	return rec, nil
}

// partRecord is one part of a cached split layer.
type partRecord struct {
	Digest  string  `json:"digest"`
	DiffID  string  `json:"diffID"`
	Size    int64   `json:"size"`
	Entries []Entry `json:"entries"`

	cached bool // taken from the cache by this build (not recorded)
}

// layer returns the part as a stored layer.
func (r *partRecord) layer(store *blobstore.Store) (*storedLayer, error) {
	d, err := v1.NewHash(r.Digest)
	if err != nil {
		return nil, err
	}
	diffID, err := v1.NewHash(r.DiffID)
	if err != nil {
		return nil, err
	}
	return &storedLayer{store: store, digest: d, diffID: diffID, size: r.Size}, nil
}

// buildSplit writes a split layer's parts and records the whole layer as
// buildLayerEntries records one layer.
func (p *planner) buildSplit(ctx context.Context, start time.Time, statKey, shapeKey string, entries []*layerEntry) (*Built, error) {
	p.unshareRacy() // a part found in the part cache is not read
	rec, err := p.writeSplit(ctx, entries)
	if err != nil {
		return nil, err
	}
	store, key := p.req.Store, ""
	if p.req.DryRun {
		store = nil
		p.shareSums()
		key, _ = p.key(recContent)
	} else if key, err = p.saveRecords(start, statKey, shapeKey, rec); err != nil {
		return nil, err
	} else if err := saveRecord(store, recSplitMark, &layerRecord{Key: p.splitMarkKey()}); err != nil {
		return nil, err
	}
	out, err := splitBuilt(store, rec.Parts)
	if err == nil {
		out.Cached = slices.IndexFunc(out.Parts, func(p Part) bool { return !p.Cached }) < 0
		out.Key, out.Read = key, p.read.Load()
		for _, pt := range out.Parts {
			if n, serr := pt.Layer.Size(); serr == nil && !pt.Cached && store != nil {
				out.Compressed += n
			}
		}
	}
	return out, err
}

// splitBuilt returns the Built of a split layer from its part records.
func splitBuilt(store *blobstore.Store, prs []partRecord) (*Built, error) {
	out := &Built{Parts: make([]Part, len(prs))}
	for i := range prs {
		l, err := prs[i].layer(store)
		if err != nil {
			return nil, err
		}
		out.Parts[i] = Part{Layer: l, Entries: prs[i].Entries, Cached: prs[i].cached}
		out.Entries = append(out.Entries, prs[i].Entries...)
	}
	return out, nil
}
