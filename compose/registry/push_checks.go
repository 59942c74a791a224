package registry

import (
	"context"
	"slices"

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
// is named by its digest, so an answer stays true unless the manifest is
// deleted meanwhile (a garbage collection racing the push, which a HEAD
// just before the PUT would race too). A failed check is asked again at
// the manifests step. It returns a
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
	return p.inBackground(ctx, len(todo), func(i int) error {
		chk := p.checks[todo[i]]
		c, err := p.client(ctx, todo[i].repo)
		if err == nil {
			_, chk.ok, err = c.headManifest(ctx, todo[i].digest.String())
		}
		return err
	}, func(i int, err error) {
		chk := p.checks[todo[i]]
		chk.err = err
		close(chk.done)
	})
}

// manifestThere reports whether m's repository has m, from its early check;
// asked is false when there was none, or when it failed (a registry
// briefly failing while the blobs went up): the caller asks then.
func (p *pusher) manifestThere(ctx context.Context, m *manifestJob) (there, asked bool, err error) {
	chk := p.checks[m]
	if chk == nil {
		return false, false, nil
	}
	select {
	case <-chk.done:
		return chk.ok, chk.err == nil, nil
	case <-ctx.Done():
		return false, true, ctx.Err()
	}
}

// inBackground runs task(i) for each i below n in the background, each
// holding one of the push's slots, and gives finish each result. wait
// returns once every task has finished; cancel ctx first to end them early.
func (p *pusher) inBackground(ctx context.Context, n int, task func(i int) error, finish func(i int, err error)) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var g errgroup.Group
		g.SetLimit(p.opts.Jobs)
		for i := range n {
			g.Go(func() error {
				finish(i, p.withSlot(ctx, func() error { return task(i) }))
				return nil
			})
		}
		g.Wait()
	}()
	return func() { <-done }
}

// withSlot runs f holding one of the push's Jobs slots. Every request of a
// push is sent by someone holding one (a waiter on another's answer holds
// none), so a registry never sees more than Jobs at once, early checks
// included.
func (p *pusher) withSlot(ctx context.Context, f func() error) error {
	if err := p.slots.Acquire(ctx, 1); err != nil {
		return err
	}
	defer p.slots.Release(1)
	return f()
}
