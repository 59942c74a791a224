package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
)

// pushBlobs places every blob in every destination repository.
func (p *pusher) pushBlobs(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	// A blob still being committed by a Streamer is waited for outside
	// the budget, so that the others go up meanwhile.
	waits, n := map[*blobJob]bool{}, 0
	for _, j := range p.blobs {
		if slices.ContainsFunc(j.repos, func(r name.Repository) bool { return p.streamStarted(r, j) }) {
			waits[j] = true
			n++
		}
	}
	g.SetLimit(p.opts.Jobs + n)
	for _, j := range p.blobs {
		if waits[j] {
			g.Go(func() error {
				for _, r := range j.repos {
					p.streamed(gctx, r, j)
				}
				return p.withSlot(gctx, func() error { return p.pushBlob(gctx, j) })
			})
		}
	}
	for _, j := range p.blobs {
		if !waits[j] {
			g.Go(func() error { return p.withSlot(gctx, func() error { return p.pushBlob(gctx, j) }) })
		}
	}
	return g.Wait()
}

// streamer returns the Streamer of repo (PushOptions.Streams), or nil.
func (p *pusher) streamer(repo name.Repository) *Streamer {
	for _, st := range p.opts.Streams {
		if st.Repository().Name() == repo.Name() {
			return st
		}
	}
	return nil
}

// spareFor returns an upload session a Streamer opened ahead in repo, or
// nil.
func (p *pusher) spareFor(repo name.Repository) *url.URL {
	if st := p.streamer(repo); st != nil {
		return st.takeSession()
	}
	return nil
}

// dropSessions deletes, in the background and Jobs at a time, the
// sessions the Streamers opened ahead that no blob took; the returned
// function waits for that.
func (p *pusher) dropSessions(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var g errgroup.Group
		g.SetLimit(p.opts.Jobs)
		for _, st := range p.opts.Streams {
			for _, loc := range st.takeSpares() {
				g.Go(func() error { st.client.cancelUpload(ctx, loc); return nil })
			}
		}
		_ = g.Wait() // a session not deleted is left to the registry's clean-up
	}()
	return func() { <-done }
}

// streamStarted reports whether a Streamer uploaded, or is uploading, j
// into repo.
func (p *pusher) streamStarted(repo name.Repository, j *blobJob) bool {
	st := p.streamer(repo)
	return st != nil && st.Started(j.digest.String())
}

// streamed reports whether a Streamer uploaded j into repo, waiting for a
// commit in progress.
func (p *pusher) streamed(ctx context.Context, repo name.Repository, j *blobJob) bool {
	st := p.streamer(repo)
	if st == nil {
		return false
	}
	b, ok := st.Blob(ctx, j.digest.String())
	return ok && b.Size == j.size
}

// pushBlob places one blob in its repositories of one registry: the first
// repository gets it by HEAD hit, mount from a MountFrom repository or
// upload; the others by HEAD hit or mount from the first.
func (p *pusher) pushBlob(ctx context.Context, j *blobJob) error {
	for i, repo := range j.repos {
		from := ""
		if i > 0 {
			from = j.repos[0].RepositoryStr()
		} else {
			for _, m := range j.mountFrom {
				if m.Name() != repo.Name() {
					from = m.RepositoryStr()
					break
				}
			}
		}
		if err := p.placeBlob(ctx, j, repo, from, i == 0); err != nil {
			return err
		}
	}
	return nil
}

// stepError names the registry, repository, step and blob of a failure.
func stepError(repo name.Repository, step string, j *blobJob, err error) error {
	return fmt.Errorf("%s: %s blob %s: %w", repo.Name(), step, short(j.digest), rateLimited(repo, err))
}

// rateLimited makes a 429 that outlasted the retries say so.
func rateLimited(repo name.Repository, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("rate limited by %s (still 429 after retries): %w", repo.RegistryStr(), err)
	}
	return err
}

// first is set for j's first repository (the others mount from it).
func (p *pusher) placeBlob(ctx context.Context, j *blobJob, repo name.Repository, from string, first bool) error {
	c, err := p.client(ctx, repo)
	if err != nil {
		return err
	}
	ev := PushEvent{Kind: "blob", Repo: repo.Name(), Digest: j.digest.String(), Size: j.size}
	if p.streamed(ctx, repo, j) {
		p.count(&p.uploaded, ev, "uploaded", j.size)
		ev.Status, ev.Done = "uploaded", j.size
		p.opts.Progress(ev)
		return nil
	}
	skipped := func() error {
		p.count(&p.skipped, ev, "skipped", 0)
		ev.Status = "skipped"
		p.opts.Progress(ev)
		return nil
	}
	// In a repository listed as missing the upload starts (or the mount is
	// asked for) beside the probe that confirms the listing, which is
	// waited for only before bytes are sent: one round trip fewer.
	listedNew := p.newRepos[repo.Name()]
	if listedNew && p.probeFor(repo).target == j {
		listedNew = p.stillNew(ctx, c, repo)
	}
	if !listedNew {
		ok, err := c.headBlob(ctx, j.digest)
		if err != nil {
			return stepError(repo, "checking", j, err)
		}
		if ok {
			return skipped()
		}
	}
	attempts := p.opts.Transport.Attempts
	spareTried := false
	for attempt := 1; ; attempt++ {
		var spare *url.URL
		if first && j.made && !spareTried {
			spare, spareTried = p.spareFor(repo), true
		}
		mounted, loc, err := false, spare, error(nil)
		if loc == nil {
			mounted, loc, err = c.startUpload(ctx, j.digest, from)
		}
		if err != nil {
			return stepError(repo, "starting upload of", j, err)
		}
		if mounted {
			p.count(&p.mounted, ev, "mounted", 0)
			ev.Status = "mounted"
			p.opts.Progress(ev)
			return nil
		}
		if listedNew && (j.lent || !p.stillNew(ctx, c, repo)) {
			// Not new after all (a rerun after a failed push), or a lent
			// blob the registry would not mount (the probe never asks for
			// one): the upload just started is dropped if the blob is
			// there.
			listedNew = false
			ok, err := c.headBlob(ctx, j.digest)
			if err != nil {
				return stepError(repo, "checking", j, err)
			}
			if ok {
				c.cancelUpload(ctx, loc)
				return skipped()
			}
		}
		err = p.upload(ctx, c, j, loc, ev)
		if err != nil && uploadGone(err) {
			// A commit whose answer was lost and that was sent again finds
			// its upload spent: the blob may be there all the same.
			if ok, herr := c.headBlob(ctx, j.digest); herr == nil && ok {
				err = nil
			}
		}
		if err == nil {
			p.count(&p.uploaded, ev, "uploaded", j.size)
			ev.Status, ev.Done = "uploaded", j.size
			p.opts.Progress(ev)
			return nil
		}
		if spare != nil && uploadGone(err) {
			// The registry dropped the session opened ahead (it expired):
			// at once, in a session of the blob's own, without counting
			// an attempt.
			attempt--
			continue
		}
		if attempt >= attempts || !retryableUpload(ctx, err) && !uploadGone(err) {
			return stepError(repo, "uploading", j, err)
		}
		if err := sleep(ctx, backoff(p.opts.Transport.Backoff, attempt)); err != nil {
			return stepError(repo, "uploading", j, err)
		}
	}
}

// monolithicMax is the largest blob uploaded with one PUT of its bytes
// (the distribution API's monolithic upload, in every registry's OCI
// conformance) rather than a PATCH and then a PUT: a round trip fewer for
// the configs and documents every push has. Larger blobs keep the PATCH,
// as docker and ggcr send them.
const monolithicMax = 1 << 20

// upload streams the blob to loc and commits it.
func (p *pusher) upload(ctx context.Context, c *repoClient, j *blobJob, loc *url.URL, ev PushEvent) error {
	rc, err := j.open(ctx)
	if err != nil {
		return fmt.Errorf("reading blob: %w", err)
	}
	defer rc.Close()
	if j.size <= monolithicMax {
		b, err := io.ReadAll(io.LimitReader(rc, j.size+1))
		if err != nil {
			return fmt.Errorf("reading blob: %w", err)
		}
		if int64(len(b)) != j.size {
			return fmt.Errorf("blob is %d bytes, expected %d", len(b), j.size)
		}
		if err := c.putBlob(ctx, loc, j.digest, b); err != nil {
			return err
		}
		ev.Status, ev.Done = "uploading", j.size
		p.opts.Progress(ev)
		return nil
	}
	cr := &progressReader{r: rc, f: func(n int64) {
		ev.Status, ev.Done = "uploading", n
		p.opts.Progress(ev)
	}}
	next, err := c.patch(ctx, loc, cr, j.size)
	if err != nil {
		return err
	}
	if cr.n != j.size {
		return fmt.Errorf("blob is %d bytes, expected %d", cr.n, j.size)
	}
	return c.commit(ctx, next, j.digest)
}

// uploadGone reports whether err says the upload location is no more
// (BLOB_UPLOAD_UNKNOWN, or a 404): a fresh upload may still succeed.
func uploadGone(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.BlobUploadUnknownErrorCode {
			return true
		}
	}
	return false
}

// retryableUpload reports whether an upload failure deserves a fresh
// attempt: connection errors and retryable statuses.
func retryableUpload(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, 499, 522,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnknownErrorCode, transport.UnavailableErrorCode, transport.BlobUploadInvalidErrorCode, transport.TooManyRequestsErrorCode:
				return true
			}
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false // a stalled registry, not a flaky one: timeouts are not retried
	}
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	return retryableError(err)
}

// count adds to a counter under the lock and records the blob's result.
func (p *pusher) count(c *int, ev PushEvent, status string, bytes int64) {
	p.mu.Lock()
	*c++
	p.bytes += bytes
	p.blobResults = append(p.blobResults, BlobResult{Repo: ev.Repo, Digest: ev.Digest, Size: ev.Size, Status: status, BytesUploaded: bytes})
	p.mu.Unlock()
}

// placed reports whether this push put blob h in repo (uploaded, mounted
// or found there).
func (p *pusher) placed(repo name.Repository, h v1.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.blobResults, func(b BlobResult) bool { return b.Repo == repo.Name() && b.Digest == h.String() })
}

// progressReader reports how many bytes were read.
type progressReader struct {
	r io.Reader
	n int64
	f func(int64)
}

func (c *progressReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if n > 0 {
		c.f(c.n)
	}
	return n, err
}

// newProbe is the check that a repository listed as missing holds none of
// the push's blobs.
type newProbe struct {
	// target is the blob asked for: the largest the push has for the
	// repository among those that would cost bytes to place again (not
	// streamed there by this command, lent by a MountFrom repository, or
	// the push's own small blob; nil: none, nothing to ask).
	target *blobJob
	once   sync.Once
	new    bool
}

// probeFor returns repo's probe, choosing its target the first time.
func (p *pusher) probeFor(repo name.Repository) *newProbe {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr := p.probes[repo.Name()]; pr != nil {
		return pr
	}
	pr := &newProbe{}
	for _, j := range p.blobs {
		if pr.target != nil && j.size <= pr.target.size || !slices.ContainsFunc(j.repos, func(r name.Repository) bool { return r.Name() == repo.Name() }) {
			continue
		}
		// A blob streamed here, lent by a MountFrom repository or the
		// push's own small one costs no bytes to place again: it is
		// never the probe.
		if !p.streamStarted(repo, j) && !j.lent && !j.own {
			pr.target = j
		}
	}
	p.probes[repo.Name()] = pr
	return pr
}

// stillNew reports whether repo, which the caller listed as missing
// (PushOptions.New), still holds none of this push's blobs: the probe's
// target is asked for once. The target itself is placed only after that
// answer (placeBlob), so the answer is never this push's own doing.
func (p *pusher) stillNew(ctx context.Context, c *repoClient, repo name.Repository) bool {
	if !p.newRepos[repo.Name()] {
		return false
	}
	pr := p.probeFor(repo)
	pr.once.Do(func() {
		if pr.target == nil {
			pr.new = true
			return
		}
		there, err := c.headBlob(ctx, pr.target.digest)
		pr.new = err == nil && !there
	})
	return pr.new
}
