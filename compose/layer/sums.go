package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/blobstore"
)

// Input sums. When a layer's stat key misses (some input changed), the
// inputs that did not change still need their content hash: for the
// content key, for a split layer's part keys, and for a push's registry
// cache key. A sums record, one per layer spec (record kind "sums", keyed
// like the split marker by the layer's spec, format and created time),
// keeps each input's hash with the (dev, inode, size, mtime, ctime) it was
// read under. An input whose stat is exactly as recorded takes the
// recorded hash and is not read ahead of the write; the write pass still
// hashes every byte it puts in a layer and fails on a mismatch. The trust
// argument is the stat key's (see "Why the stat key is safe"), per input:
// only filesystems whose ctimes are trusted, and only inputs whose ctime
// was older than the recording build's start by more than racyWindow.
//
// Without it a one-file edit of a split layer hashed the whole layer
// twice in a push (the registry cache key, then the part keys).

// recSums is the record kind of input sums.
const recSums = "sums"

// maxSumsRecord bounds the size of a sums record that is read.
const maxSumsRecord = 256 << 20

// sumsRecord is the on-disk form of a layer spec's input sums.
type sumsRecord struct {
	Key   string     `json:"key"`
	Files []sumEntry `json:"files"`
}

// sumEntry is one input's hash and the stat it was read under.
type sumEntry struct {
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
	Ctime int64  `json:"ctime"`
	Sum   string `json:"sum"`
}

// sumsKey is the key of this layer spec's sums record: the layer spec,
// the ignore patterns and the context directory (by device and inode), but
// not the created time or the layer format, which do not change an input's
// hash (a SOURCE_DATE_EPOCH taken from each commit must not discard it).
func (p *planner) sumsKey() string {
	l := p.layer
	l.Name = ""
	layer, _ := json.Marshal(l)
	h := sha256.New()
	fmt.Fprintf(h, "strata-%s-key/2\nlayer %s%s\n", recSums, layer, p.req.Ignore.keyText())
	if p.req.Root != nil {
		if fi, err := p.req.Root.Lstat("."); err == nil {
			st := statOf(fi)
			fmt.Fprintf(h, "context %d:%d\n", st.dev, st.ino)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sumsPath(s *blobstore.Store, key string) string {
	return filepath.Join(s.Dir(), "layers", recSums+"-"+key+".json")
}

// loadSums gives every input without a hash whose stat is exactly as the
// sums record has it the recorded hash. A missing or unreadable record
// gives nothing.
func (p *planner) loadSums() {
	if len(p.keyLines) == 0 {
		return
	}
	defer p.req.Sums.give(p) // what this command hashed, after the record
	if p.req.Store == nil || !p.statUsable() {
		return
	}
	key := p.sumsKey()
	f, err := os.Open(sumsPath(p.req.Store, key))
	if err != nil {
		return
	}
	defer f.Close()
	var r sumsRecord
	if json.NewDecoder(io.LimitReader(f, maxSumsRecord)).Decode(&r) != nil || r.Key != key {
		return
	}
	byPath := make(map[string]*sumEntry, len(r.Files))
	for i := range r.Files {
		byPath[r.Files[i].Path] = &r.Files[i]
	}
	p.takeSums(func(c *contentRef) (*sumEntry, bool) { return byPath[c.path], false })
}

// takeSums gives every input without a hash the hash find has for it,
// when the stat find has with it is the input's own; racy marks a hash
// shared within the racy window (contentRef.sharedRacy).
func (p *planner) takeSums(find func(c *contentRef) (e *sumEntry, racy bool)) {
	for _, k := range p.keyLines {
		c := k.ref
		if c == nil || c.hasSum || c.spool != nil || c.stat.ctime == 0 {
			continue
		}
		e, racy := find(c)
		if e == nil || e.Dev != c.stat.dev || e.Ino != c.stat.ino || e.Size != c.stat.size || e.Mtime != c.stat.mtime || e.Ctime != c.stat.ctime {
			continue
		}
		b, err := hex.DecodeString(e.Sum)
		if err != nil || len(b) != sha256.Size {
			continue
		}
		copy(c.sum[:], b)
		c.hasSum, c.sharedRacy = true, racy
		p.loadedSums++
	}
}

// dropSumsOnChange removes the sums record when a build that took hashes
// from it found an input that does not match (*err wraps errChanged): a
// file edited behind an unchanged stat, or a damaged record. The next build
// then hashes every input again instead of failing the same way.
func (p *planner) dropSumsOnChange(err *error) {
	if *err != nil && p.loadedSums > 0 && errors.Is(*err, errChanged) && p.req.Store != nil {
		os.Remove(sumsPath(p.req.Store, p.sumsKey()))
	}
}

// saveSums records the hash of every input that has one and whose ctime is
// older than start by more than racyWindow. Failing to save only costs the
// next build a read.
func (p *planner) saveSums(start time.Time) {
	if len(p.keyLines) == 0 {
		return
	}
	p.req.Sums.remember(p, start)
	if p.req.Store == nil || !p.statUsable() {
		return
	}
	if p.req.DryRun {
		// A plan stores nothing; the key pass of a push or plan --changed
		// (a dry run too) may keep what it hashed, in a cache that exists.
		if !p.req.KeyOnly {
			return
		}
		if _, err := os.Stat(p.req.Store.Dir()); err != nil {
			return
		}
	}
	limit := start.Add(-racyWindow).UnixNano()
	r := sumsRecord{Key: p.sumsKey()}
	for _, k := range p.keyLines {
		c := k.ref
		if c == nil || !c.hasSum || c.sharedRacy || c.spool != nil || c.stat.ctime == 0 || c.stat.ctime >= limit {
			continue
		}
		r.Files = append(r.Files, sumEntry{Path: c.path, Dev: c.stat.dev, Ino: c.stat.ino, Size: c.stat.size,
			Mtime: c.stat.mtime, Ctime: c.stat.ctime, Sum: hex.EncodeToString(c.sum[:])})
	}
	if len(r.Files) == 0 || len(r.Files) == p.loadedSums {
		return // nothing to record, or nothing the record does not have
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	dir := filepath.Join(p.req.Store.Dir(), "layers")
	if os.MkdirAll(dir, 0o755) != nil {
		return
	}
	_ = atomicfile.WriteFile(sumsPath(p.req.Store, r.Key), 0o644, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, nil)
}

// knownLayer asks Request.Known for the layer by its content key before
// it is compressed: a layer a registry holds is used as it is, but only
// once this build has tarred its own entries (no compression) and found
// the layer's diffID, so a record naming another layer's blob is never
// taken. The pass also hashes every input, which the write then checks. It
// returns nil when Known has no such layer, or one with another diffID.
// When every input's hash is known already (the key pass or a sums
// record), Known is asked first, and a layer it does not have (a changed
// one) is written without that pass.
func (p *planner) knownLayer(ctx context.Context, start time.Time, entries []*layerEntry) (*Built, error) {
	key, early := p.key(recContent)
	var l v1.Layer
	if early {
		if l = p.req.Known(ctx, key); l == nil {
			return nil, nil
		}
	}
	diffID, err := p.tarDiffID(ctx, entries)
	if err != nil {
		return nil, err
	}
	if k, ok := p.key(recContent); !ok || early && k != key {
		return nil, nil // (an input changed under the build: the write fails)
	} else if !early {
		key, l = k, p.req.Known(ctx, k)
	}
	if l == nil {
		return nil, nil
	}
	if d, err := l.DiffID(); err != nil || d != diffID {
		return nil, nil
	}
	p.saveSums(start)
	return &Built{Layer: l, Key: key, Cached: true, Registry: true, Read: p.read.Load()}, nil
}

// tarDiffID writes the entries' tar stream into sha256 only (no
// compression, nothing stored) and returns the layer's diffID, hashing and
// checking every input on the way as the write does.
func (p *planner) tarDiffID(ctx context.Context, entries []*layerEntry) (v1.Hash, error) {
	h := blobstore.NewHasher()
	tw := tar.NewWriter(h)
	if err := p.tarEntries(ctx, tw, entries, nil); err != nil {
		return v1.Hash{}, err
	}
	if err := tw.Close(); err != nil {
		return v1.Hash{}, fmt.Errorf("writing tar: %w", err)
	}
	p.shareSums()
	return h.Sum(), nil
}

// Sums remembers, for one command, every input hash its builds computed,
// by the input's device and inode, with the size, mtime and ctime it was
// read under. Unlike the sums record it keeps inputs changed within the
// racy window: they were read moments ago by this same process, so the
// command builds an input as it read it then (a file rewritten since, with
// the same stat, is caught by the write pass, which hashes every byte it
// puts in a layer and fails on a mismatch). The zero value is ready to
// use; it is safe for concurrent use.
type Sums struct {
	mu sync.Mutex
	m  map[[2]uint64]sharedSum
}

// sharedSum is one input's hash in Sums; racy when the build that read it
// started within the racy window of the input's ctime.
type sharedSum struct {
	sumEntry
	racy bool
}

// remember records every input of p that has a hash, noting those whose
// ctime was within the racy window of start (the build that read them).
func (s *Sums) remember(p *planner, start time.Time) {
	if s == nil || !p.statUsable() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range p.keyLines {
		c := k.ref
		if c == nil || !c.hasSum || c.spool != nil || c.stat.ctime == 0 {
			continue
		}
		if s.m == nil {
			s.m = map[[2]uint64]sharedSum{}
		}
		racy := c.sharedRacy || c.stat.ctime >= start.Add(-racyWindow).UnixNano()
		s.m[[2]uint64{c.stat.dev, c.stat.ino}] = sharedSum{sumEntry{Dev: c.stat.dev, Ino: c.stat.ino, Size: c.stat.size,
			Mtime: c.stat.mtime, Ctime: c.stat.ctime, Sum: hex.EncodeToString(c.sum[:])}, racy}
	}
}

// give gives every input of p without a hash whose stat is as remembered
// the remembered hash.
func (s *Sums) give(p *planner) {
	if s == nil || !p.statUsable() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p.takeSums(func(c *contentRef) (*sumEntry, bool) {
		e, ok := s.m[[2]uint64{c.stat.dev, c.stat.ino}]
		if !ok {
			return nil, false
		}
		return &e.sumEntry, e.racy
	})
}

// unshareRacy drops the hashes another build of this command took within
// the racy window (see fileContent.sharedRacy): the inputs are hashed
// again, by a read, before a cache hit that would not read them.
func (p *planner) unshareRacy() {
	for _, k := range p.keyLines {
		if c := k.ref; c != nil && c.sharedRacy {
			c.hasSum, c.sharedRacy = false, false
			p.loadedSums--
		}
	}
}
