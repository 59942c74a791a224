package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sync/errgroup"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Layer reuse. A rebuild whose inputs did not change takes the stored layer
// instead of compressing again. The key is a sha256 over everything that
// decides the layer's bytes: the layer format (tar rules, compressor
// version, level and block size), the created time, the layer's spec after
// platform expansion (without its name), and every planned entry (target,
// kind, mode, owner, size, link, source path, hard-link grouping) with the
// sha256 of every input file's content, archives included.
//
// The key is content-based on purpose. An mtime/inode/size key is cheaper but
// unsafe: git checkout, rsync, cp and CI caches rewrite mtimes and inodes of
// unchanged files (so they would never hit), and a tool that rewrites a file
// within the same second with the same size (or restores an old mtime, like
// `git checkout` of an older commit, `touch -r`, tar -x) keeps them, so an
// mtime key can return a stale layer. Hashing the inputs costs one read at
// sha256 speed (~1.7 GB/s per core, spread over GOMAXPROCS), far less than
// tar+gzip. During a build every file is hashed again as it is written and
// must match the key pass, so a record never describes content other than
// the stored blob's.
//
// Records live at <store>/layers/<key>.json and are written atomically (temp
// file, fsync, rename). A record is used only when its blob is still in the
// store with the recorded size.

// layerRecord is a cached layer build.
type layerRecord struct {
	Key     string  `json:"key"`
	Digest  string  `json:"digest"`
	DiffID  string  `json:"diffID"`
	Size    int64   `json:"size"`
	Entries []Entry `json:"entries"`
}

// hashInputs hashes every context file and archive the plan reads (the key
// pass), checking each is unchanged while read. Files sharing an inode are
// read once.
func (p *planner) hashInputs(ctx context.Context) error {
	var refs []*contentRef
	byInode := map[[2]uint64]*contentRef{}
	var shared [][2]*contentRef
	for _, e := range p.entries {
		if e.content == nil {
			continue
		}
		c := e.content
		if c.stat.nlink > 1 {
			id := [2]uint64{c.stat.dev, c.stat.ino}
			if first, ok := byInode[id]; ok {
				shared = append(shared, [2]*contentRef{first, c})
				continue
			}
			byInode[id] = c
		}
		refs = append(refs, c)
	}
	for _, a := range p.archives {
		refs = append(refs, a.content)
	}
	workers := min(runtime.GOMAXPROCS(0), max(len(refs), 1))
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
				sum, err := copyContent(ctx, p.req.Root, c, nil, buf, nil)
				if err != nil {
					return err
				}
				c.sum, c.hasSum = sum, true
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, s := range shared {
		s[1].sum, s[1].hasSum = s[0].sum, true
	}
	return nil
}

// cacheKey computes the reuse key of the planned layer (see above). It must
// run after hashInputs.
func (p *planner) cacheKey() (string, error) {
	h := sha256.New()
	// The name and the layer's index only label it (history, messages);
	// they do not change its bytes, so they stay out of the key.
	l := p.layer
	l.Name = ""
	layer, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%s\ncreated %d\nlayer %s\n", layerFormat, p.req.Created.Unix(), layer)
	for _, e := range p.entries {
		fmt.Fprintf(h, "entry %q %d %o %d %d %d %q %q %t", e.target, e.kind, e.mode, e.uid, e.gid, e.size, e.link, e.source, e.onlyIfEmpty)
		if c := e.content; c != nil {
			fmt.Fprintf(h, " sum %x", c.sum)
			if c.stat.nlink > 1 {
				fmt.Fprintf(h, " inode %d:%d", c.stat.dev, c.stat.ino)
			}
		}
		h.Write([]byte{'\n'})
	}
	for _, a := range p.archives {
		fmt.Fprintf(h, "archive %q %q %d %d %x\n", a.content.path, a.destT, a.uid, a.gid, a.content.sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// recordPath is where the record for key lives.
func (s *blobStore) recordPath(key string) string {
	return filepath.Join(s.dir, "layers", key+".json")
}

// loadRecord returns the record for key if it and its blob are present.
func (s *blobStore) loadRecord(key string) (*layerRecord, bool) {
	b, err := os.ReadFile(s.recordPath(key))
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
	fi, err := os.Stat(s.path(d))
	if err != nil || fi.Size() != r.Size {
		return nil, false
	}
	return &r, true
}

// saveRecord writes r atomically.
func (s *blobStore) saveRecord(r *layerRecord) error {
	dir := filepath.Join(s.dir, "layers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving layer record: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("saving layer record: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("saving layer record: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.recordPath(r.Key))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("saving layer record: %w", err)
	}
	return nil
}
