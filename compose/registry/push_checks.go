package registry

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// manifestCheck is the HEAD of one manifest, asked for ahead of the
// manifests step.
type manifestCheck struct {
	done chan struct{}
	ok   bool // the repository has the manifest
	err  error
}

// checkManifests asks, while the blobs are pushed, whether each repository
// not listed as new (PushOptions.New) already has each manifest to push
// there: the manifests step then waits on answers instead of asking, one
// round trip less for the images and one for their referrers. A manifest
// is named by its digest, so an answer cannot go stale. It returns a
// function that waits for the checks; cancel ctx first to end them early.
func (p *pusher) checkManifests(ctx context.Context) (wait func()) {
	var todo []*manifestJob
	p.checks = map[*manifestJob]*manifestCheck{}
	for _, level := range slices.Concat(p.manifests, [][]*manifestJob{p.refManifests}) {
		for _, m := range level {
			if !p.newRepos[m.repo.Name()] {
				p.checks[m] = &manifestCheck{done: make(chan struct{})}
				todo = append(todo, m)
			}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var g errgroup.Group
		g.SetLimit(p.opts.Jobs)
		for _, m := range todo {
			chk := p.checks[m]
			g.Go(func() error {
				defer close(chk.done)
				c, err := p.client(ctx, m.repo)
				if err == nil {
					_, chk.ok, err = c.headManifest(ctx, m.digest.String())
				}
				chk.err = err
				return nil
			})
		}
		g.Wait()
	}()
	return func() { <-done }
}

// manifestThere reports whether m's repository has m, from its early check;
// asked is false when there was none (the caller asks).
func (p *pusher) manifestThere(ctx context.Context, m *manifestJob) (there, asked bool, err error) {
	chk := p.checks[m]
	if chk == nil {
		return false, false, nil
	}
	select {
	case <-chk.done:
		return chk.ok, true, chk.err
	case <-ctx.Done():
		return false, true, ctx.Err()
	}
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

// checkTags reads, while the blobs are pushed, what each tag points at:
// the tags step then puts a tag that is to be created or moved at once,
// one round trip less (two for a tag that moves, whose previous digest is
// read from the manifest's bytes). A tag read as already at its digest is
// read again at the tags step, so that a push never leaves alone, as
// unchanged, a tag another writer moved meanwhile; a moved tag reports
// where it pointed when the push began. It returns a function that waits
// for the reads; cancel ctx first to end them early.
func (p *pusher) checkTags(ctx context.Context) (wait func()) {
	var todo []tagKey
	p.tagChecks = map[tagKey]*tagCheck{}
	for _, a := range p.arts {
		for _, t := range a.tags {
			k := tagKey{a, t}
			if p.tagChecks[k] == nil {
				p.tagChecks[k] = &tagCheck{done: make(chan struct{})}
				todo = append(todo, k)
			}
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var g errgroup.Group
		g.SetLimit(p.opts.Jobs)
		for _, k := range todo {
			chk := p.tagChecks[k]
			g.Go(func() error {
				defer close(chk.done)
				chk.prev, chk.ok, chk.err = p.readTag(ctx, k.a, k.tag)
				return nil
			})
		}
		g.Wait()
	}()
	return func() { <-done }
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
// unless it failed or found the tag at a's digest (then it is read again).
func (p *pusher) tagNow(ctx context.Context, a *artifactPlan, tag name.Tag) (v1.Hash, bool, error) {
	if chk := p.tagChecks[tagKey{a, tag}]; chk != nil {
		select {
		case <-chk.done:
		case <-ctx.Done():
			return v1.Hash{}, false, ctx.Err()
		}
		if chk.err == nil && !(chk.ok && chk.prev == a.digest) {
			return chk.prev, chk.ok, nil
		}
	}
	return p.readTag(ctx, a, tag)
}
