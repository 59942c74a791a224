package compose

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/spec"
)

// PrefetchBases starts resolving, in the background, the registry base of
// each spec (its tag, manifest and config, which land in the cache under
// cacheDir), so that a build that first waits on something else (a push
// lists the registry cache first) finds its base resolved: on a distant
// registry that is three round trips off the critical path. Pass the
// options Build will get: with WithBaseTags the build takes the very
// digests resolved here. Failures are dropped: the build that needs the
// base reports them. At most WithJobs resolutions run at once. wait returns
// once every resolution has ended; cancel ctx to end them early.
func PrefetchBases(ctx context.Context, specs []*spec.Spec, cacheDir string, opts ...Option) (wait func()) {
	o, err := makeOptions(opts...)
	if err != nil || o.baseResolver != nil || cacheDir == "" {
		return func() {}
	}
	type job struct {
		s    *spec.Spec
		want []spec.Platform
	}
	var jobs []job
	seen := map[string]bool{}
	for _, s := range specs {
		if s == nil || spec.Validate(s).Err() != nil {
			continue
		}
		s = spec.WithDefaults(s, "")
		if l, err := spec.ParseLocation(s.Base); err != nil || l.Kind != spec.LocationRegistry || seen[s.Base] {
			continue
		}
		want, err := wantPlatforms(s)
		if err == nil && o.platform != nil {
			s, want, err = onePlatform(s, want, *o.platform)
		}
		if err != nil {
			continue
		}
		seen[s.Base] = true
		jobs = append(jobs, job{s, want})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var g errgroup.Group
		g.SetLimit(o.jobs) // WithJobs: resolutions at once
		for _, j := range jobs {
			g.Go(func() error {
				_, _ = base.Resolve(ctx, j.s.Base, j.want, cacheDir, base.Options{Remote: o.remote, Logger: o.logger, Pin: o.basePins[j.s.Base], Tags: o.tags})
				return nil
			})
		}
		g.Wait()
	}()
	return func() { <-done }
}
