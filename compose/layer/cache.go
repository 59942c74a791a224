package layer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/pinnedgzip"
)

// Layer reuse. A rebuild whose inputs did not change takes the stored layer
// instead of compressing again. Like git's index, there are two levels:
//
//   - The content key is a sha256 over everything that decides the layer's
//     bytes: the layer format (tar rules, compressor version, level and block
//     size), the created time, the layer's spec after platform expansion
//     (without its name), every planned entry (target, kind, mode, owner,
//     size, link, source path, hard-link grouping) and the sha256 of every
//     input file's content, archives included. It is found again after any
//     checkout, copy, cache restore or `touch`, at the price of reading and
//     hashing every input (sha256 at ~1.5 GB/s per core with SHA-NI, spread
//     over GOMAXPROCS; far less than tar+gzip).
//   - The stat key replaces the content hashes by each input's inode data:
//     device, inode, size, mtime and ctime in ns, mode, owner, link count.
//     Its record is what the content key gave, so a rebuild of an untouched
//     tree costs one lstat per input and reads no file at all.
//
// Why the stat key is safe. mtime alone is not: a rewrite within the
// filesystem's time granularity keeps it, and `touch -r`, `tar -x`, `cp -p`,
// rsync and editors' backup-restores set it to any chosen value. ctime cannot
// be chosen: the kernel sets it to its current time on every change of a
// file's content or metadata (write, truncate, chmod, chown, link, rename,
// utimes itself), and no system call sets it otherwise. Replacing the file
// changes the inode (or, if the number is reused, the ctime: the new inode is
// created now). So an input whose (dev, inode, size, mtime, ctime) are
// unchanged was not written since they were recorded, with one hole: a change
// within the same clock tick as the recorded ctime leaves ctime equal (git's
// "racy" problem). Hence the racy rule: a stat record is written only when
// every input's ctime is older than the build's start (taken before the first
// lstat) by more than racyWindow; a change after the start gets a ctime of at
// least start minus one clock tick, so it cannot equal a recorded ctime. A
// racy build still writes its content record, so the next build (after a
// content-key hit) writes the stat record. Only local filesystems whose
// ctimes come from this kernel's clock (ext4, xfs, btrfs, tmpfs, overlayfs,
// zfs, f2fs; see ctimeTrusted) and inputs on the context directory's own
// device use the stat key; elsewhere (NFS, FUSE, other OSes) every rebuild
// hashes its inputs. What remains outside the rule: stepping the system
// clock back to the very tick of a recorded ctime, and raw disk editing.
//
// One read on a cold build. The content key needs every input's hash before
// the layer is written, which would mean reading every input twice on a
// build that cannot reuse anything. The shape key (the content key without
// the hashes: entries and sizes only) tells in advance: a content record can
// only match when a build with the same shape was stored before, so without a
// shape marker the inputs are hashed while the layer is written (the one
// read), and the records (content, shape, stat) are written afterwards from
// that same read. With a marker (the same files, e.g. a fresh checkout with a
// restored cache, or an edit that kept every size) the inputs are hashed
// first and, on a content miss, compared with the second read while writing.
// Either way a record describes the stored blob: its key is computed from the
// bytes that went into that blob, and every input is checked unchanged
// (inode, size, mtime, ctime) from planning to the end of its read.
//
// Records live at <store>/layers/{content,stat,shape}-<key>.json and are
// written atomically (temp file, fsync, rename), after the blob is stored. A
// record is used only when its blob is still in the store with the recorded
// size.

// racyWindow is how much older than the build's start every input's ctime
// must be for a stat record to be written. Timestamps on the trusted
// filesystems move in clock ticks (at most 10 ms); the margin is kept wide.
const racyWindow = 2 * time.Second

// layerRecord is a cached layer build.
type layerRecord struct {
	Key     string  `json:"key"`
	Digest  string  `json:"digest"`
	DiffID  string  `json:"diffID"`
	Size    int64   `json:"size"`
	Entries []Entry `json:"entries"`
	// Parts are the image layers of a split layer (Digest, DiffID and Size
	// then repeat the first part's); nil for one layer.
	Parts []partRecord `json:"parts,omitempty"`
	// ContentKey is the content key of the layer, so that a stat hit
	// knows it too (Built.Key); absent in records of older versions.
	ContentKey string `json:"contentKey,omitempty"`
}

// Record kinds (file name prefixes under <store>/layers).
const (
	recContent = "content"
	recStat    = "stat"
	recShape   = "shape"
)

// keyLine is one line of key material: the text of a planned entry or
// archive and the input it reads, if any.
type keyLine struct {
	text string
	ref  *contentRef
}

// buildKeyLines records the key material of the plan. It runs after plan
// and before any archive is expanded or entries are finalized (both add to
// or change p.entries).
func (p *planner) buildKeyLines() error {
	// The name and the layer's index only label it (history, messages);
	// they do not change its bytes, so they stay out of the keys.
	l := p.layer
	l.Name = ""
	layer, err := json.Marshal(l)
	if err != nil {
		return err
	}
	// The ignore file decides which inputs exist; it is part of the keys
	// (only when there is one, so other contexts keep their keys).
	lines := []keyLine{{text: fmt.Sprintf("%s\ncreated %d\nlayer %s%s", pinnedgzip.Format, p.req.Created.Unix(), layer, p.req.Ignore.keyText())}}
	for _, e := range p.entries {
		k := keyLine{text: fmt.Sprintf("entry %q %d %o %d %d %d %q %q %t", e.target, e.kind, e.mode, e.uid, e.gid, e.size, e.link, e.source, e.onlyIfEmpty)}
		if c := e.content; c != nil {
			k.ref = c
			if c.stat.nlink > 1 {
				k.text += fmt.Sprintf(" inode %d:%d", c.stat.dev, c.stat.ino)
			}
		}
		lines = append(lines, k)
	}
	for _, a := range p.archives {
		lines = append(lines, keyLine{text: fmt.Sprintf("archive %q %q %d %d size %d", a.content.path, a.destT, a.uid, a.gid, a.content.stat.size), ref: a.content})
	}
	p.keyLines = lines
	return nil
}

// key computes the key of the given kind from the key material. A content
// key needs every input's hash; ok is false when one is missing.
func (p *planner) key(kind string) (key string, ok bool) {
	h := sha256.New()
	fmt.Fprintf(h, "strata-%s-key/1\n", kind)
	for _, k := range p.keyLines {
		h.Write([]byte(k.text))
		if c := k.ref; c != nil {
			switch kind {
			case recContent:
				if !c.hasSum {
					return "", false
				}
				fmt.Fprintf(h, " sum %x", c.sum)
			case recStat:
				s := c.stat
				fmt.Fprintf(h, " stat %d %d %d %d %d %o %d %d %d", s.dev, s.ino, s.size, s.mtime, s.ctime, uint32(s.mode), s.uid, s.gid, s.nlink)
			}
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// statUsable reports whether the stat key may be used for this plan: the
// context is on a filesystem with trustworthy ctimes and every input lies on
// the context directory's own device.
func (p *planner) statUsable() bool {
	if p.req.Root == nil {
		return true // declared entries only: the key is the spec
	}
	fi, err := p.req.Root.Lstat(".")
	if err != nil || !ctimeTrusted(p.req.Root) {
		return false
	}
	dev := statOf(fi).dev
	for _, k := range p.keyLines {
		if c := k.ref; c != nil && (c.stat.dev != dev || c.stat.ctime == 0) {
			return false
		}
	}
	return true
}

// racy reports whether an input changed too close to start, the build's
// start, for a stat record to be trusted (see racyWindow).
func (p *planner) racy(start time.Time) bool {
	limit := start.Add(-racyWindow).UnixNano()
	for _, k := range p.keyLines {
		if c := k.ref; c != nil && c.stat.ctime >= limit {
			return true
		}
	}
	return false
}

// inputs lists the inputs still to be hashed, once per inode.
func (p *planner) inputs(onlyPinned bool) []*contentRef {
	var refs []*contentRef
	seen := map[[2]uint64]bool{}
	for _, k := range p.keyLines {
		c := k.ref
		if c == nil || c.hasSum {
			continue
		}
		if onlyPinned && !p.pinned(c) {
			continue
		}
		if c.stat.ino != 0 {
			id := [2]uint64{c.stat.dev, c.stat.ino}
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		refs = append(refs, c)
	}
	return refs
}

// pinned reports whether c is a file or archive with a sha256 pin.
func (p *planner) pinned(c *contentRef) bool {
	if c.pin != "" {
		return true
	}
	for _, a := range p.archives {
		if a.content == c {
			return a.pin != ""
		}
	}
	return false
}

// hashInputs hashes the given inputs on one worker plus one for every unit
// of req.Budget that is free (never more than GOMAXPROCS or the number of
// inputs), checking each is
// unchanged while read, then shares each hash with the other inputs naming
// the same inode.
func (p *planner) hashInputs(ctx context.Context, refs []*contentRef) error {
	extra := 0
	if b := p.req.Budget; b != nil {
		for extra < min(runtime.GOMAXPROCS(0), len(refs))-1 && b.TryAcquire(1) {
			extra++
		}
		defer b.Release(int64(extra))
	}
	workers := 1 + extra
	next := make(chan *contentRef)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(next)
		for _, c := range refs {
			select {
			case next <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			buf := make([]byte, 256<<10)
			for c := range next {
				sum, err := copyContent(ctx, p.req.Root, c, nil, buf, p.req.opened, false)
				if err != nil {
					return err
				}
				c.sum, c.hasSum = sum, true
				p.read.Add(c.stat.size)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	p.shareSums()
	return nil
}

// shareSums gives every input without a hash the hash of an input on the
// same inode (a hard link, or the same file matched twice, is read once).
func (p *planner) shareSums() {
	byInode := map[[2]uint64]*contentRef{}
	for _, k := range p.keyLines {
		if c := k.ref; c != nil && c.hasSum && c.stat.ino != 0 {
			byInode[[2]uint64{c.stat.dev, c.stat.ino}] = c
		}
	}
	for _, k := range p.keyLines {
		if c := k.ref; c != nil && !c.hasSum && c.stat.ino != 0 {
			if s := byInode[[2]uint64{c.stat.dev, c.stat.ino}]; s != nil {
				c.sum, c.hasSum = s.sum, true
			}
		}
	}
}

// recordPath is where the record of the given kind for key lives.
func recordPath(s *blobstore.Store, kind, key string) string {
	return filepath.Join(s.Dir(), "layers", kind+"-"+key+".json")
}

// hasRecord reports whether a record file of the given kind exists.
func hasRecord(s *blobstore.Store, kind, key string) bool {
	_, err := os.Stat(recordPath(s, kind, key))
	return err == nil
}

// loadRecord returns the record of the given kind for key if it and its
// blob are present and the blob still hashes to its digest (see
// blobstore.Verify). A corrupt blob is evicted with its record and logged,
// and the layer is then built again.
func loadRecord(s *blobstore.Store, kind, key string, logger *slog.Logger) (*layerRecord, bool) {
	b, err := os.ReadFile(recordPath(s, kind, key))
	if err != nil {
		return nil, false
	}
	var r layerRecord
	if json.Unmarshal(b, &r) != nil || r.Key != key {
		return nil, false
	}
	d, err1 := v1.NewHash(r.Digest)
	_, err2 := v1.NewHash(r.DiffID)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	fi, err := os.Stat(s.Path(d))
	if err != nil || fi.Size() != r.Size {
		return nil, false
	}
	if !verifyCached(s, d, kind, key, logger) {
		return nil, false
	}
	for _, pr := range r.Parts {
		pd, err1 := v1.NewHash(pr.Digest)
		_, err2 := v1.NewHash(pr.DiffID)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		if fi, err := os.Stat(s.Path(pd)); err != nil || fi.Size() != pr.Size {
			return nil, false
		}
		if !verifyCached(s, pd, kind, key, logger) {
			return nil, false
		}
	}
	return &r, true
}

// verifyCached reports whether the stored blob d still hashes to its
// digest (blobstore.Verify). A corrupt blob is evicted with the record of
// the given kind and key, and a warning logged, so the layer is built again.
func verifyCached(s *blobstore.Store, d v1.Hash, kind, key string, logger *slog.Logger) bool {
	err := s.Verify(d)
	if err == nil {
		return true
	}
	if errors.Is(err, blobstore.ErrCorrupt) && logger != nil {
		msg := "cached layer blob was corrupt: evicted it and built the layer again"
		if s.ReadOnly() {
			msg = "cached layer blob is corrupt: planned the layer without it (the next build replaces it)"
		}
		logger.Warn(msg, "digest", d.String(), "cache", s.Dir())
	}
	if !s.ReadOnly() {
		os.Remove(recordPath(s, kind, key))
	}
	return false
}

// saveRecord writes r atomically as a record of the given kind (a shape
// marker is a record without a layer).
func saveRecord(s *blobstore.Store, kind string, r *layerRecord) error {
	dir := filepath.Join(s.Dir(), "layers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving layer record: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("saving layer record: %w", err)
	}
	err = atomicfile.WriteFile(recordPath(s, kind, r.Key), 0o644, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("saving layer record: %w", err)
	}
	return nil
}
