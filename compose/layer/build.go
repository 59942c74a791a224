package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/spec"
)

// buildLayer builds layers[req.Index] for req.Platform: it plans the entries
// (files, archives, declared dirs and symlinks, whiteouts), looks for a
// stored layer with the same inputs (see layercache.go), and otherwise writes
// the layer in one pass: tar → sha256 (diffID) → pgzip → sha256 (digest) →
// blob store. With req.DryRun nothing is stored. A layer without entries is
// reported with Layer == nil.
func Build(ctx context.Context, req Request) (*Built, error) {
	l := req.Spec.Layers[req.Index]
	name := Name(req.Spec, req.Index)
	out, err := buildLayerEntries(ctx, req, expandLayer(l, req.Platform))
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", name, err)
	}
	out.Name = name
	return out, nil
}

// expandLayer fills ${TARGETOS}, ${TARGETARCH} and ${TARGETVARIANT} into the
// layer's source globs, excludes, dests and sha256 pins.
func expandLayer(l spec.Layer, p spec.Platform) spec.Layer {
	files := make([]spec.File, len(l.Files))
	for i, f := range l.Files {
		f.Src = spec.ExpandPlatform(f.Src, p)
		f.Dest = spec.ExpandPlatform(f.Dest, p)
		f.Sha256 = spec.ExpandPlatform(f.Sha256, p)
		if f.Exclude != nil {
			ex := make([]string, len(f.Exclude))
			for k, x := range f.Exclude {
				ex[k] = spec.ExpandPlatform(x, p)
			}
			f.Exclude = ex
		}
		files[i] = f
	}
	l.Files = files
	return l
}

// planner collects one layer's entries.
type planner struct {
	req        Request
	loadedSums int        // inputs that took their hash from the sums record
	layer      spec.Layer // after platform expansion
	field      string     // "layers[i]"
	fsys       fs.FS
	realDirs   map[string]bool // context dirs known to be real directories (no symlink on the way)
	entries    []*layerEntry
	archives   []*archiveSource
	spool      *os.File
	keyLines   []keyLine    // key material, taken before archives are expanded
	read       atomic.Int64 // context bytes read (Built.Read)
}

// specErr is an error about the spec field at field.
func (p *planner) specErr(field, format string, args ...any) error {
	return p.req.Spec.Errorf(field, format, args...)
}

// spoolFile returns the file archive members are copied to, creating it in
// the store's temp directory (or the system's for a dry run without store).
func (p *planner) spoolFile() (*os.File, error) {
	if p.spool != nil {
		return p.spool, nil
	}
	dir := ""
	if p.req.Store != nil && !p.req.DryRun {
		dir = p.req.Store.TempDir()
	}
	f, err := os.CreateTemp(dir, "extract-*")
	if err != nil {
		return nil, fmt.Errorf("creating extraction spool: %w", err)
	}
	p.spool = f
	return f, nil
}

// close removes the spool file.
func (p *planner) close() {
	if p.spool != nil {
		p.spool.Close()
		os.Remove(p.spool.Name())
	}
}

// plan adds every entry the layer spec names (archives are only listed).
func (p *planner) plan(ctx context.Context) error {
	if p.req.Root == nil && len(p.layer.Files) > 0 {
		return errors.New("no context directory to read files from")
	}
	for j, f := range p.layer.Files {
		if err := p.addFiles(ctx, j, f); err != nil {
			return err
		}
	}
	for k, d := range p.layer.Dirs {
		field := fmt.Sprintf("%s.dirs[%d]", p.field, k)
		t, err := spec.NormalizeTarget(d.Path)
		if err != nil {
			return p.specErr(field+".path", "%v", err)
		}
		if t == "" {
			return p.specErr(field+".path", "/ cannot be declared; the image root is not an entry")
		}
		if hasWhiteoutName(t) {
			return p.specErr(field+".path", "%q: names starting with .wh. are reserved for whiteouts", d.Path)
		}
		e := &layerEntry{target: t, kind: kindDir, mode: 0o755, source: "spec", origin: field}
		if d.Mode != "" {
			if e.mode, err = spec.ParseMode(d.Mode); err != nil {
				return p.specErr(field+".mode", "%v", err)
			}
		}
		if e.uid, e.gid, err = spec.ParseOwner(d.Owner); err != nil {
			return p.specErr(field+".owner", "%v", err)
		}
		p.entries = append(p.entries, e)
	}
	for k, s := range p.layer.Symlinks {
		field := fmt.Sprintf("%s.symlinks[%d]", p.field, k)
		t, err := spec.NormalizeTarget(s.Path)
		if err != nil {
			return p.specErr(field+".path", "%v", err)
		}
		if t == "" {
			return p.specErr(field+".path", "/ cannot be a symlink")
		}
		if hasWhiteoutName(t) {
			return p.specErr(field+".path", "%q: names starting with .wh. are reserved for whiteouts", s.Path)
		}
		if s.Target == "" {
			return p.specErr(field+".target", "empty symlink target")
		}
		if err := checkName("symlink target", s.Target); err != nil {
			return p.specErr(field+".target", "%v", err)
		}
		e := &layerEntry{target: t, kind: kindSymlink, mode: 0o777, link: s.Target, source: "spec", origin: field}
		if e.uid, e.gid, err = spec.ParseOwner(s.Owner); err != nil {
			return p.specErr(field+".owner", "%v", err)
		}
		p.entries = append(p.entries, e)
	}
	// Hard links: context files sharing an inode.
	for _, e := range p.entries {
		if c := e.content; c != nil && c.stat.nlink > 1 {
			e.group = fmt.Sprintf("i%d:%d", c.stat.dev, c.stat.ino)
		}
	}
	return nil
}

// buildLayerEntries is buildLayer without the error prefix. It looks for
// a stored layer by stat key, then (when a layer of the same shape was stored
// before) by content key, and otherwise writes the layer, hashing the inputs
// on the way, and records it under all three keys (see layercache.go).
func buildLayerEntries(ctx context.Context, req Request, l spec.Layer) (_ *Built, err error) {
	p := &planner{req: req, layer: l, field: fmt.Sprintf("layers[%d]", req.Index), realDirs: map[string]bool{}}
	defer p.dropSumsOnChange(&err)
	if req.Root != nil {
		p.fsys = req.Root.FS()
		if req.Ignore != nil {
			p.fsys = ignoringFS{fsys: p.fsys, ig: req.Ignore}
		}
	}
	defer p.close()
	now := time.Now
	if req.now != nil {
		now = req.now
	}
	start := now() // before the first lstat: the racy rule's reference
	if err := p.plan(ctx); err != nil {
		return nil, err
	}
	if len(p.entries) == 0 && len(p.archives) == 0 && len(l.Delete) == 0 && len(l.Clear) == 0 {
		return &Built{}, nil
	}
	if err := p.buildKeyLines(); err != nil {
		return nil, err
	}
	store := req.Store
	statKey := ""
	if store != nil && p.statUsable() {
		// A stat hit needs no pin check: the spec (pins included) is part
		// of the key and the archives were checked when the record was
		// written and have not changed since.
		statKey, _ = p.key(recStat)
		if r, ok := loadRecord(store, recStat, statKey, req.Logger); ok && (!req.KeyOnly || r.ContentKey != "") {
			if req.KeyOnly {
				return &Built{Key: r.ContentKey}, nil
			}
			return recordLayer(store, r)
		}
	}
	// Inputs unchanged since the last build of this layer spec keep the
	// hash it recorded (see sums.go).
	p.loadSums()
	// A pinned archive is hashed and checked before anything is extracted.
	if err := p.hashInputs(ctx, p.inputs(true)); err != nil {
		return nil, err
	}
	if err := p.checkPins(); err != nil {
		return nil, err
	}
	if req.KeyOnly {
		if err := p.hashInputs(ctx, p.inputs(false)); err != nil {
			return nil, err
		}
		key, _ := p.key(recContent)
		p.saveSums(start)
		return &Built{Key: key, Read: p.read.Load()}, nil
	}
	shapeKey, _ := p.key(recShape)
	if store != nil && hasRecord(store, recShape, shapeKey) {
		p.unshareRacy() // a content hit below reads nothing
		if err := p.hashInputs(ctx, p.inputs(false)); err != nil {
			return nil, err
		}
		key, _ := p.key(recContent)
		if r, ok := loadRecord(store, recContent, key, req.Logger); ok {
			r.ContentKey = key
			if statKey != "" && !req.DryRun && !p.racy(start) {
				sr := *r
				sr.Key = statKey
				if err := saveRecord(store, recStat, &sr); err != nil {
					return nil, err
				}
			}
			b, err := recordLayer(store, r)
			if b != nil {
				b.Read = p.read.Load()
				p.saveSums(start)
			}
			return b, err
		}
	} else if store != nil && !req.DryRun && p.splitBuiltBefore() {
		// A split layer built before: hash first, so parts whose files
		// are unchanged come from the part cache.
		p.unshareRacy()
		if err := p.hashInputs(ctx, p.inputs(false)); err != nil {
			return nil, err
		}
	}
	for i, a := range p.archives {
		if err := p.expandArchive(ctx, i, a); err != nil {
			return nil, err
		}
	}
	entries, err := p.finalize()
	if err != nil {
		return nil, err
	}
	out := &Built{Entries: make([]Entry, len(entries))}
	for i, e := range entries {
		out.Entries[i] = e.entry()
	}
	if len(entries) == 0 {
		return out, nil
	}
	if l.Split != "" {
		b, err := p.buildSplit(ctx, start, statKey, shapeKey, entries)
		if err == nil {
			p.saveSums(start)
		}
		return b, err
	}
	if req.Known != nil && store != nil && !req.DryRun {
		if known, err := p.knownLayer(ctx, start, entries); err != nil || known != nil {
			if known != nil {
				known.Entries = out.Entries
			}
			return known, err
		}
	}
	digest, diffID, size, err := p.write(ctx, entries)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		store = nil
		p.shareSums()
		out.Key, _ = p.key(recContent)
	} else if out.Key, err = p.saveRecords(start, statKey, shapeKey, &layerRecord{Digest: digest.String(), DiffID: diffID.String(), Size: size, Entries: out.Entries}); err != nil {
		return nil, err
	}
	out.Layer = &storedLayer{store: store, digest: digest, diffID: diffID, size: size}
	out.Read = p.read.Load()
	p.saveSums(start)
	if store != nil {
		out.Compressed = size
	}
	return out, nil
}

// saveRecords records a layer just stored under its content key, marks its
// shape, and records it under its stat key unless an input is racy. It
// returns the content key.
func (p *planner) saveRecords(start time.Time, statKey, shapeKey string, rec *layerRecord) (string, error) {
	p.shareSums()
	key, ok := p.key(recContent)
	if !ok {
		return "", nil // an input was not read (cannot happen for a stored layer): record nothing
	}
	store := p.req.Store
	r := *rec
	r.Key, r.ContentKey = key, key
	if err := saveRecord(store, recContent, &r); err != nil {
		return "", err
	}
	if err := saveRecord(store, recShape, &layerRecord{Key: shapeKey}); err != nil {
		return "", err
	}
	if statKey != "" && !p.racy(start) {
		r.Key = statKey
		return key, saveRecord(store, recStat, &r)
	}
	return key, nil
}

// write streams the entries into one layer and stores it (or, for a dry
// run, only hashes it). Nothing is left in the store on failure.
func (p *planner) write(ctx context.Context, entries []*layerEntry) (digest, diffID v1.Hash, size int64, err error) {
	var out io.Writer
	var bw *blobstore.Writer
	var hw *blobstore.Hasher
	var tee *teeWriter
	if p.req.DryRun || p.req.Store == nil {
		if !p.req.DryRun {
			return digest, diffID, 0, errors.New("no blob store to write the layer to")
		}
		hw = blobstore.NewHasher()
		out = hw
	} else {
		if bw, err = p.req.Store.Create(); err != nil {
			return digest, diffID, 0, err
		}
		defer bw.Abort()
		out = &writebackWriter{bw: bw}
		if tee = p.startTee(ctx); tee != nil {
			defer tee.abort()
			out = io.MultiWriter(out, tee)
		}
	}
	ls, err := newLayerStream(out)
	if err != nil {
		return digest, diffID, 0, err
	}
	obs := p.startObserver(ctx)
	if obs != nil {
		defer func() {
			if err == nil {
				obs.Commit(diffID)
			} else {
				obs.Abort()
			}
		}()
	}
	if err := p.tarEntries(ctx, ls.tw, entries, obs); err != nil {
		ls.abort()
		return digest, diffID, 0, err
	}
	if diffID, err = ls.close(); err != nil {
		return digest, diffID, 0, err
	}
	if hw != nil {
		return hw.Sum(), diffID, hw.Size(), nil
	}
	// The copy is committed (for an upload: the registry's final PUT,
	// which verifies the digest) while the blob is synced to the store.
	var teeDone chan struct{}
	if tee != nil {
		teeDone = make(chan struct{})
		go func(d v1.Hash, n int64) {
			defer close(teeDone)
			tee.commit(ctx, d, n)
		}(bw.Digest(), bw.Size())
	}
	digest, size, err = bw.Commit()
	if teeDone != nil {
		<-teeDone
	}
	return digest, diffID, size, err
}

// recordLayer returns the cached layer r.
func recordLayer(store *blobstore.Store, r *layerRecord) (*Built, error) {
	d, err := v1.NewHash(r.Digest)
	if err != nil {
		return nil, err
	}
	diffID, err := v1.NewHash(r.DiffID)
	if err != nil {
		return nil, err
	}
	if r.Parts != nil {
		for i := range r.Parts {
			r.Parts[i].cached = true
		}
		out, err := splitBuilt(store, r.Parts)
		if out != nil {
			out.Cached, out.Key = true, r.ContentKey
		}
		return out, err
	}
	return &Built{Layer: &storedLayer{store: store, digest: d, diffID: diffID, size: r.Size}, Entries: r.Entries, Cached: true, Key: r.ContentKey}, nil
}

// storedLayer is a gzip layer blob in the store with known digests; ggcr
// serves it as it is and never recompresses it, and output sinks hard-link its
// file (BlobPath) instead of copying it. store is nil for a dry run.
type storedLayer struct {
	store  *blobstore.Store
	digest v1.Hash
	diffID v1.Hash
	size   int64
}

func (l *storedLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *storedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *storedLayer) Size() (int64, error)     { return l.size, nil }

func (l *storedLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// Compressed opens the stored blob.
func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	if l.store == nil {
		return nil, fmt.Errorf("layer %s was computed by a dry run and not stored", l.digest)
	}
	return l.store.Open(l.digest)
}

// Uncompressed decompresses the stored blob.
func (l *storedLayer) Uncompressed() (io.ReadCloser, error) {
	return blobstore.Uncompressed(l)
}

// BlobPath returns the stored blob's file (output sinks hard-link it),
// checked to still hash to its digest: a corrupt blob is removed from the
// store and never linked. It never fetches, so ctx is not used.
func (l *storedLayer) BlobPath(context.Context) (string, error) {
	if l.store == nil {
		return "", fmt.Errorf("layer %s was computed by a dry run and not stored", l.digest)
	}
	if err := l.store.Verify(l.digest); err != nil {
		return "", fmt.Errorf("cached layer %s: %w; build again to rebuild it", l.digest, err)
	}
	return l.store.Path(l.digest), nil
}

var _ v1.Layer = (*storedLayer)(nil)
