package registry

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// pushTags applies every tag, after everything else has succeeded.
func (p *pusher) pushTags(ctx context.Context) error {
	type job struct {
		art *artifactPlan
		i   int
	}
	var jobs []job
	for _, a := range p.arts {
		a.result.Tags = make([]TagResult, 0, len(a.tags))
		for i := range a.tags {
			jobs = append(jobs, job{a, i})
		}
	}
	results := make([]*TagResult, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Jobs)
	for k, j := range jobs {
		g.Go(func() error {
			r, err := p.pushTag(gctx, j.art, j.art.tags[j.i])
			results[k] = r
			return err
		})
	}
	err := g.Wait()
	for k, j := range jobs {
		if results[k] != nil {
			j.art.result.Tags = append(j.art.result.Tags, *results[k])
		}
	}
	if err != nil {
		var moved []string
		for _, r := range results {
			if r != nil && (r.Status == TagCreated || r.Status == TagMoved) {
				moved = append(moved, r.Tag)
			}
		}
		slices.Sort(moved)
		if len(moved) == 0 {
			return fmt.Errorf("%w (no tag was changed)", err)
		}
		return fmt.Errorf("%w (tags already changed: %v)", err, moved)
	}
	return nil
}

func (p *pusher) pushTag(ctx context.Context, a *artifactPlan, tag name.Tag) (*TagResult, error) {
	r := &TagResult{Tag: tag.Name(), Digest: a.digest.String()}
	prev, ok, err := p.tagNow(ctx, a, tag)
	if err != nil {
		return nil, err
	}
	switch {
	case ok && prev == a.digest:
		r.Status = TagUnchanged
	case a.heldBy[tag.Name()] != "":
		r.Status, r.HeldBy = TagHeld, a.heldBy[tag.Name()]
		if ok {
			r.Previous = prev.String()
		}
	case ok:
		r.Status, r.Previous = TagMoved, prev.String()
	default:
		r.Status = TagCreated
	}
	if r.Status == TagCreated || r.Status == TagMoved {
		err := p.withSlot(ctx, func() error {
			c, err := p.client(ctx, tag.Context())
			if err == nil {
				err = c.putManifest(ctx, tag.TagStr(), a.mediaType, a.raw)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: tagging %s: %w", tag.Context().Name(), tag.TagStr(), err)
		}
	}
	p.opts.Progress(PushEvent{Kind: "tag", Repo: tag.Context().Name(), Digest: a.digest.String(), Tag: tag.Name(), Status: string(r.Status)})
	return r, nil
}

// tagCheck is what a tag pointed at, read ahead of the tags step.
type tagCheck struct {
	done chan struct{}
	prev v1.Hash // the digest it pointed at, when ok
	ok   bool    // the tag exists
	err  error
}

// tagKey names one tag of one artifact.
type tagKey struct {
	a   *artifactPlan
	tag name.Tag
}

// checkTags reads, once the images are in place and while their
// referrers are pushed, what each tag points at: the tags step then puts a
// tag that is to be created or moved at once, one round trip less (two for
// a tag that moves, whose previous digest is read from the manifest's
// bytes, a GET a registry may count as a pull: a push that fails before
// its images are in place spends none). A tag read as already at its
// digest is read again at the tags step, so that a push never leaves alone
// a tag another writer moved meanwhile; a tag created or moved reports
// what it was when the images were in place. Tags read only at the tags
// step, once: a floating tag that may be held (it reports where it still
// points), and a tag of an image its repository already had (a re-push, a
// registry cache hit) that PushOptions.Listed shows there, most often in
// place already (read early, it would be read twice). It returns a
// function that waits for the reads; cancel ctx first to end them early.
func (p *pusher) checkTags(ctx context.Context) (wait func()) {
	var todo []tagKey
	p.tagChecks = map[tagKey]*tagCheck{}
	for _, a := range p.arts {
		floating := floatingTags(a.version)
		for _, t := range a.tags {
			k := tagKey{a, t}
			if _, ok := floating[t.TagStr()]; ok && !p.opts.ForceFloating {
				continue // may be held: read once, at the tags step
			}
			if p.wasFound(t.Context(), a.digest) && p.opts.Listed[t.Context().Name()][t.TagStr()] {
				continue // likely in place already: read once, at the tags step
			}
			if p.tagChecks[k] == nil {
				p.tagChecks[k] = &tagCheck{done: make(chan struct{})}
				todo = append(todo, k)
			}
		}
	}
	return p.inBackground(ctx, len(todo), func(i int) (err error) {
		chk := p.tagChecks[todo[i]]
		chk.prev, chk.ok, err = p.readTag(ctx, todo[i].a, todo[i].tag)
		return err
	}, func(i int, err error) {
		chk := p.tagChecks[todo[i]]
		chk.err = err
		close(chk.done)
	})
}

// readTag returns the digest tag points at (ok is false when there is no
// such tag), read from the manifest's bytes when it is not a's: the
// report says where a tag moved from, and a registry's digest header may
// be wrong.
func (p *pusher) readTag(ctx context.Context, a *artifactPlan, tag name.Tag) (v1.Hash, bool, error) {
	c, err := p.client(ctx, tag.Context())
	if err != nil {
		return v1.Hash{}, false, err
	}
	prev, ok, err := c.headManifest(ctx, tag.TagStr())
	if err != nil {
		return v1.Hash{}, false, fmt.Errorf("%s: checking tag %s: %w", tag.Context().Name(), tag.TagStr(), err)
	}
	if ok && prev != a.digest {
		if prev, err = c.manifestDigest(ctx, tag.TagStr()); err != nil {
			return v1.Hash{}, false, fmt.Errorf("%s: reading tag %s: %w", tag.Context().Name(), tag.TagStr(), err)
		}
	}
	return prev, ok, nil
}

// tagNow returns what tag points at for the tags step: the early read,
// unless it failed, found the tag at a's digest or the tag is held (then
// it is read again).
func (p *pusher) tagNow(ctx context.Context, a *artifactPlan, tag name.Tag) (v1.Hash, bool, error) {
	if chk := p.tagChecks[tagKey{a, tag}]; chk != nil && a.heldBy[tag.Name()] == "" {
		select {
		case <-chk.done:
		case <-ctx.Done():
			return v1.Hash{}, false, ctx.Err()
		}
		if chk.err == nil && !(chk.ok && chk.prev == a.digest) {
			return chk.prev, chk.ok, nil
		}
	}
	var prev v1.Hash
	var ok bool
	err := p.withSlot(ctx, func() (err error) {
		prev, ok, err = p.readTag(ctx, a, tag)
		return err
	})
	return prev, ok, err
}
