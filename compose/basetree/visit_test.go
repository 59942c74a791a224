package basetree

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// visitLayer is a layer of a few entries (its content readable by a
// visitor) whose opens are counted and can be made to fail.
type visitLayer struct {
	v1.Layer
	opens *atomic.Int32
	fail  *atomic.Bool
}

func (l visitLayer) Uncompressed() (io.ReadCloser, error) {
	l.opens.Add(1)
	if l.fail.Load() {
		return nil, errors.New("offline")
	}
	return l.Layer.Uncompressed()
}

func newVisitLayer(t *testing.T, tag string) visitLayer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct{ name, body string }{{"etc/", ""}, {"etc/" + tag, "content of " + tag}, {"etc/.wh.old", ""}, {"var/empty", ""}} {
		h := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body))}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		}
		tw.WriteHeader(h)
		io.WriteString(tw, e.body)
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return visitLayer{Layer: l, opens: new(atomic.Int32), fail: new(atomic.Bool)}
}

// textVisitor renders what it is shown: "name" per entry, "name=content"
// for etc/ files (it reads only those), "done" at the end.
type textVisitor struct {
	mu  *sync.Mutex
	out map[v1.Hash]*strings.Builder
	d   v1.Hash
}

func (v textVisitor) Entry(h *tar.Header, r io.Reader) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.out[v.d], "%s", h.Name)
	if strings.HasPrefix(h.Name, "etc/") && h.Typeflag == tar.TypeReg {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(v.out[v.d], "=%s", b)
	}
	fmt.Fprintln(v.out[v.d])
	return nil
}

func (v textVisitor) Done() {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintln(v.out[v.d], "done")
}

// TestIndexVisit: a visitor is shown every entry of every distinct base
// layer (reading what content it wants) and Done, from the one read that
// indexes the layer; with the index cached, a layer is read again only
// for a visitor, and a visit that fails leaves the check its cached index.
func TestIndexVisit(t *testing.T) {
	ctx := context.Background()
	a, b := newVisitLayer(t, "a"), newVisitLayer(t, "b")
	bases := [][]v1.Layer{{a, b}, {a}} // two platforms sharing a
	var mu sync.Mutex
	seen := map[v1.Hash]*strings.Builder{}
	asked := 0
	visit := func(d v1.Hash) LayerVisitor {
		mu.Lock()
		defer mu.Unlock()
		asked++
		if seen[d] != nil {
			return nil
		}
		seen[d] = &strings.Builder{}
		return textVisitor{mu: &mu, out: seen, d: d}
	}
	cache := t.TempDir()
	plain, err := Index(ctx, bases, cache, Options{Save: true})
	if err != nil {
		t.Fatal(err)
	}
	a.opens.Store(0)
	b.opens.Store(0)
	trees, err := Index(ctx, bases, cache, Options{Save: true, Visit: visit})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(trees.recs) != fmt.Sprint(plain.recs) {
		t.Errorf("records with a visitor %v, without %v", trees.recs, plain.recs)
	}
	for _, l := range []visitLayer{a, b} {
		d, _ := l.DiffID()
		tag := "a"
		if l.Layer == b.Layer {
			tag = "b"
		}
		want := "etc/\netc/" + tag + "=content of " + tag + "\netc/.wh.old=\nvar/empty\ndone\n"
		if got := seen[d].String(); got != want {
			t.Errorf("layer %s visited as:\n%s\nwant:\n%s", tag, got, want)
		}
		if n := l.opens.Load(); n != 1 {
			t.Errorf("layer %s read %d times with a cached index and a visitor, want once", tag, n)
		}
	}
	if asked != 2 {
		t.Errorf("Visit asked %d times, want once per distinct layer (2)", asked)
	}

	// Visitors that want nothing: the cached index is enough.
	a.opens.Store(0)
	if _, err := Index(ctx, bases, cache, Options{Visit: visit}); err != nil || a.opens.Load() != 0 {
		t.Errorf("nothing to visit: %d reads, err %v; want none", a.opens.Load(), err)
	}

	// A visit whose read fails: the cached index serves, nothing is Done.
	c := newVisitLayer(t, "c")
	if _, err := Index(ctx, [][]v1.Layer{{c}}, cache, Options{Save: true}); err != nil {
		t.Fatal(err)
	}
	c.fail.Store(true)
	if _, err := Index(ctx, [][]v1.Layer{{c}}, cache, Options{Visit: visit}); err != nil {
		t.Errorf("a failed visit failed the index: %v", err)
	}
	d, _ := c.DiffID()
	if got := seen[d].String(); got != "" {
		t.Errorf("failed visit recorded %q", got)
	}
}

// remoteLayer is a visitLayer whose blob is not cached (as a registry
// base layer on an empty cache): OnlyLocal skips the check for it.
type remoteLayer struct{ visitLayer }

func (remoteLayer) Local() bool { return false }

// TestIndexOnlyLocalVisit: with OnlyLocal (--base-check removals, nothing
// removed) and an uncached base, the check is skipped (nil trees), but a
// layer a visitor wants is still read for it, while the layers build; a
// layer no visitor wants is not downloaded, and a shared Flight is not
// left holding the skipped result for another spec's full check.
func TestIndexOnlyLocalVisit(t *testing.T) {
	ctx := context.Background()
	a, b := remoteLayer{newVisitLayer(t, "a")}, remoteLayer{newVisitLayer(t, "b")}
	da, _ := a.DiffID()
	bases := [][]v1.Layer{{a, b}}
	var mu sync.Mutex
	seen := map[v1.Hash]*strings.Builder{}
	visit := func(d v1.Hash) LayerVisitor {
		mu.Lock()
		defer mu.Unlock()
		if d != da || seen[d] != nil {
			return nil
		}
		seen[d] = &strings.Builder{}
		return textVisitor{mu: &mu, out: seen, d: d}
	}
	// No visitor: nothing is read.
	trees, err := Index(ctx, bases, t.TempDir(), Options{OnlyLocal: true})
	if trees != nil || err != nil || a.opens.Load() != 0 || b.opens.Load() != 0 {
		t.Fatalf("OnlyLocal without a visitor: %v, %v; opens a=%d b=%d", trees, err, a.opens.Load(), b.opens.Load())
	}
	flight := NewFlight()
	trees, err = Index(ctx, bases, t.TempDir(), Options{OnlyLocal: true, Visit: visit, Flight: flight})
	if trees != nil || err != nil {
		t.Fatalf("OnlyLocal with a visitor: %v, %v; want no trees (the check is skipped)", trees, err)
	}
	if a.opens.Load() != 1 || b.opens.Load() != 0 {
		t.Errorf("opens a=%d b=%d, want 1 and 0", a.opens.Load(), b.opens.Load())
	}
	if got := seen[da].String(); !strings.HasSuffix(got, "done\n") {
		t.Errorf("layer a visited as %q", got)
	}
	// Another spec's full check on the same flight gets real trees.
	full, err := Index(ctx, bases, t.TempDir(), Options{Flight: flight})
	if err != nil || full == nil || len(full.recs[0]) != 2 || len(full.recs[0][0]) == 0 || len(full.recs[0][1]) == 0 {
		t.Fatalf("full check after a skipped one = %v, %v", full, err)
	}
}

// lyingLayer claims another layer's diffID (as a hostile base's config
// can).
type lyingLayer struct {
	visitLayer
	claim v1.Hash
}

func (l lyingLayer) DiffID() (v1.Hash, error) { return l.claim, nil }

// TestIndexChecksDiffID: a base layer whose content does not hash to the
// diffID its config claims fails the index, and neither the index nor a
// visitor's result is kept under the claimed diffID (a later build with
// the real layer would trust them).
func TestIndexChecksDiffID(t *testing.T) {
	real, fake := newVisitLayer(t, "real"), newVisitLayer(t, "fake")
	claim, _ := real.DiffID()
	l := lyingLayer{fake, claim}
	cache := t.TempDir()
	var mu sync.Mutex
	seen := map[v1.Hash]*strings.Builder{}
	done := false
	visit := func(d v1.Hash) LayerVisitor {
		seen[d] = &strings.Builder{}
		return doneVisitor{textVisitor{mu: &mu, out: seen, d: d}, &done}
	}
	_, err := Index(context.Background(), [][]v1.Layer{{l}}, cache, Options{Save: true, Visit: visit})
	if err == nil || !strings.Contains(err.Error(), "but the config's diff_id is "+claim.String()) {
		t.Fatalf("Index of a layer with a false diffID: %v", err)
	}
	if _, err := readTreeIndex(treeIndexPath(cache, claim)); err == nil {
		t.Error("the index was stored under the claimed diffID")
	}
	if done {
		t.Error("the visitor was told the layer was read")
	}
}

// doneVisitor notes that Done was called.
type doneVisitor struct {
	textVisitor
	done *bool
}

func (v doneVisitor) Done() { *v.done = true }

// TestIndexOnlyLocalVisitFailure: in OnlyLocal mode a read done only for
// the visitor that fails (here a false diffID) fails nothing: the check is
// skipped as before, and the visitor is not told the layer is done.
func TestIndexOnlyLocalVisitFailure(t *testing.T) {
	real, fake := newVisitLayer(t, "real"), newVisitLayer(t, "fake")
	claim, _ := real.DiffID()
	l := remoteLayer{fake}
	bad := lyingRemote{l, claim}
	var mu sync.Mutex
	seen := map[v1.Hash]*strings.Builder{}
	done := false
	visit := func(d v1.Hash) LayerVisitor {
		seen[d] = &strings.Builder{}
		return doneVisitor{textVisitor{mu: &mu, out: seen, d: d}, &done}
	}
	trees, err := Index(context.Background(), [][]v1.Layer{{bad}}, t.TempDir(), Options{OnlyLocal: true, Visit: visit})
	if trees != nil || err != nil || done {
		t.Fatalf("OnlyLocal with a failing visited read: %v, %v, done=%v; want no trees, no error, not done", trees, err, done)
	}
}

// lyingRemote is a remoteLayer claiming another diffID.
type lyingRemote struct {
	remoteLayer
	claim v1.Hash
}

func (l lyingRemote) DiffID() (v1.Hash, error) { return l.claim, nil }
