package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/strata-build/strata/compose/registry"
)

// pushProgress returns the progress callback for a push and a function to
// call when the push is over. On a terminal (a.stderr) each upload gets a
// bar; otherwise (CI, files) one plain line per finished blob and manifest
// goes to w, which must be safe for concurrent writes.
func (a *app) pushProgress(w io.Writer, quiet bool) (func(registry.PushEvent), func()) {
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !quiet {
		return barProgress(f)
	}
	return func(e registry.PushEvent) {
		if quiet {
			return
		}
		if line := eventLine(e); line != "" {
			fmt.Fprintln(w, line)
		}
	}, func() {}
}

// eventLine renders a finished step; "" for in-progress events.
func eventLine(e registry.PushEvent) string {
	switch {
	case e.Kind == "blob" && e.Status != "uploading":
		return fmt.Sprintf("strata: %s: blob %s %s (%s)", e.Repo, short(e.Digest), e.Status, humanBytes(e.Size))
	case e.Kind == "manifest":
		return fmt.Sprintf("strata: %s: manifest %s %s", e.Repo, short(e.Digest), e.Status)
	}
	return ""
}

// barProgress draws one bar per uploading blob.
func barProgress(out io.Writer) (func(registry.PushEvent), func()) {
	p := mpb.New(mpb.WithOutput(out), mpb.WithWidth(40), mpb.WithAutoRefresh())
	var mu sync.Mutex
	bars := map[string]*mpb.Bar{}
	return func(e registry.PushEvent) {
			if e.Kind != "blob" || e.Status == "skipped" || e.Status == "mounted" {
				return
			}
			key := e.Repo + "@" + e.Digest
			mu.Lock()
			b, ok := bars[key]
			if !ok {
				b = p.AddBar(e.Size,
					mpb.PrependDecorators(decor.Name(short(e.Digest)+" ", decor.WCSyncSpaceR)),
					mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f")),
				)
				bars[key] = b
			}
			mu.Unlock()
			b.SetCurrent(e.Done)
			if e.Status == "uploaded" {
				b.SetTotal(e.Size, true)
			}
		}, func() {
			mu.Lock()
			for _, b := range bars {
				if !b.Completed() {
					b.Abort(false)
				}
			}
			mu.Unlock()
			p.Wait()
		}
}

// printTagReport writes one line per tag to stderr: created, moved (from
// which digest), unchanged, or held (a floating tag kept below a higher
// release).
func (a *app) printTagReport(rep *registry.PushReport) {
	for _, art := range rep.Artifacts {
		for _, t := range art.Tags {
			switch t.Status {
			case registry.TagMoved:
				fmt.Fprintf(a.stderr, "strata: %s: moved from %s to %s\n", t.Tag, short(t.Previous), short(t.Digest))
			case registry.TagHeld:
				at := "held, not created"
				if t.Previous != "" {
					at = "held at " + short(t.Previous)
				}
				fmt.Fprintf(a.stderr, "strata: %s: %s: %s is higher than %s (--force-floating moves it)\n", t.Tag, at, t.HeldBy, art.Version)
			default:
				fmt.Fprintf(a.stderr, "strata: %s: %s (%s)\n", t.Tag, t.Status, short(t.Digest))
			}
		}
	}
}

// printPushSummary writes the blob counts and how long the push (not the
// build) took to stderr.
func (a *app) printPushSummary(r *registry.PushReport, took time.Duration) {
	fmt.Fprintf(a.stderr, "strata: blobs: %d uploaded (%s), %d mounted, %d already there; pushed in %.3f s\n",
		r.BlobsUploaded, humanBytes(r.BytesUploaded), r.BlobsMounted, r.BlobsSkipped, took.Seconds())
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
