package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// recordingObserver records what a BlobObserver is shown.
type recordingObserver struct {
	cur  *observedBlob
	file *bytes.Buffer
}

// observedBlob is what one observer saw.
type observedBlob struct {
	entries   []tentry   // headers and the content shown
	sums      [][32]byte // EndFile sums, in order
	diffID    v1.Hash
	committed bool
	aborted   bool
}

// observeAll returns a Request.Observe that records every blob, and the
// list it records to.
func observeAll() (func(context.Context) BlobObserver, func() []*observedBlob) {
	var mu sync.Mutex
	var blobs []*observedBlob
	f := func(context.Context) BlobObserver {
		b := &observedBlob{}
		mu.Lock()
		blobs = append(blobs, b)
		mu.Unlock()
		return &recordingObserver{cur: b}
	}
	return f, func() []*observedBlob {
		mu.Lock()
		defer mu.Unlock()
		return append([]*observedBlob(nil), blobs...)
	}
}

func (o *recordingObserver) Entry(h *tar.Header) io.Writer {
	o.cur.entries = append(o.cur.entries, tentry{hdr: h})
	if h.Typeflag != tar.TypeReg {
		return nil
	}
	o.file = &bytes.Buffer{}
	return o.file
}

func (o *recordingObserver) EndFile(sum [32]byte) {
	o.cur.entries[len(o.cur.entries)-1].content = o.file.String()
	o.cur.sums = append(o.cur.sums, sum)
	o.file = nil
}

func (o *recordingObserver) Commit(d v1.Hash) { o.cur.diffID, o.cur.committed = d, true }
func (o *recordingObserver) Abort()           { o.cur.aborted = true }

// checkObserved: the observer saw exactly the blob's tar entries, in order,
// every regular file's content and its sha256, and the blob's diffID.
func checkObserved(t *testing.T, b *observedBlob, l v1.Layer) {
	t.Helper()
	if !b.committed || b.aborted {
		t.Fatalf("committed %v, aborted %v; want committed only", b.committed, b.aborted)
	}
	if d, _ := l.DiffID(); b.diffID != d {
		t.Errorf("Commit got diffID %s, want %s", b.diffID, d)
	}
	read := readLayer(t, &Built{Layer: l})
	diffLines(t, summary(b.entries), summary(read))
	k := 0
	for _, e := range read {
		if e.hdr.Typeflag != tar.TypeReg {
			continue
		}
		if k >= len(b.sums) {
			t.Fatalf("no EndFile for %s", e.hdr.Name)
		}
		if b.sums[k] != sha256.Sum256([]byte(e.content)) {
			t.Errorf("%s: EndFile sum %x is not the sha256 of its content", e.hdr.Name, b.sums[k])
		}
		k++
	}
	if k != len(b.sums) {
		t.Errorf("%d EndFile calls for %d regular files", len(b.sums), k)
	}
}

// TestObserverSeesTheBlob: a layer of context files, archive members,
// declared entries, hard links and whiteouts is shown to the observer
// entry by entry with every file's content and sha256, then committed
// with its diffID; the layer's bytes are what they are without observer.
func TestObserverSeesTheBlob(t *testing.T) {
	env := newCacheEnv(t)
	l := cacheLayer
	l.Delete = []string{"/etc/motd"}
	l.Clear = []string{"/var/cache"}
	plain := env.build(t, l)
	want, _ := plain.Layer.Digest()

	env = newCacheEnv(t)
	obs, blobs := observeAll()
	req := env.request(l)
	req.Observe = obs
	bl, err := Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := bl.Layer.Digest(); d != want {
		t.Errorf("digest with an observer %s, without %s", d, want)
	}
	got := blobs()
	if len(got) != 1 {
		t.Fatalf("%d blobs observed, want 1", len(got))
	}
	checkObserved(t, got[0], bl.Layer)

	// Built again: the layer comes from the cache, nothing is written or
	// observed. A dry run observes nothing either.
	req.Observe, blobs = observeAll()
	if bl, err := Build(context.Background(), req); err != nil || !bl.Cached {
		t.Fatalf("second build: cached %v, err %v", bl != nil && bl.Cached, err)
	}
	dry := newCacheEnv(t).request(l)
	dry.DryRun = true
	dry.Observe = req.Observe
	if _, err := Build(context.Background(), dry); err != nil {
		t.Fatal(err)
	}
	if n := len(blobs()); n != 0 {
		t.Errorf("%d blobs observed by a cached build and a dry run, want 0", n)
	}
}

// TestObserverSplitParts: every part a split layer writes is observed on
// its own and committed with its diffID; parts from the part cache are not
// observed.
func TestObserverSplitParts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctx")
	paths := splitTree(t, dir, 40)
	env := openEnv(t, dir)
	obs, blobs := observeAll()
	req := env.request(splitLayer)
	req.Observe = obs
	bl, err := Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := blobs()
	if len(bl.Parts) < 2 || len(got) != len(bl.Parts) {
		t.Fatalf("%d parts, %d blobs observed", len(bl.Parts), len(got))
	}
	byDiffID := map[v1.Hash]*observedBlob{}
	for _, b := range got {
		byDiffID[b.diffID] = b
	}
	for _, p := range bl.Parts {
		d, _ := p.Layer.DiffID()
		if byDiffID[d] == nil {
			t.Fatalf("part %s not observed", d)
		}
		checkObserved(t, byDiffID[d], p.Layer)
	}

	// One file changed: only its part is written, and observed.
	if err := os.WriteFile(paths[0], []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	req.Observe, blobs = observeAll()
	bl, err = Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	for _, p := range bl.Parts {
		if !p.Cached {
			written++
		}
	}
	if got := blobs(); len(got) != written || written == 0 || written == len(bl.Parts) {
		t.Errorf("%d blobs observed, %d of %d parts written; want one observed per part written", len(got), written, len(bl.Parts))
	}
}

// TestObserverAbortedWrite: a write that fails (a file changed while
// read) ends with Abort, never Commit.
func TestObserverAbortedWrite(t *testing.T) {
	env := newCacheEnv(t)
	req := env.request(cacheLayer)
	obs, blobs := observeAll()
	req.Observe = obs
	p := filepath.Join(env.dir, "src/b.txt")
	req.beforeRead = func(src string) {
		if src == "src/b.txt" {
			os.WriteFile(p, []byte("longer now"), 0o644)
		}
	}
	if _, err := Build(context.Background(), req); !errors.Is(err, errChanged) {
		t.Fatalf("err = %v, want a file changed while reading", err)
	}
	got := blobs()
	if len(got) != 1 || got[0].committed || !got[0].aborted {
		t.Fatalf("observed %d blobs; want 1, aborted and not committed", len(got))
	}
}
