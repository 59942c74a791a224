package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// referrerJob is one referrer to list under its subject in one repository.
type referrerJob struct {
	repo    name.Repository
	subject v1.Hash
	desc    v1.Descriptor
}

// ReferrersTag is the tag of the referrers tag schema (OCI distribution
// spec 1.1) under which registries without the referrers API list the
// referrers of subject: "sha256-HEX".
func ReferrersTag(subject v1.Hash) string {
	return subject.Algorithm + "-" + subject.Hex
}

// referrerGroup is the referrers of one subject in one repository.
type referrerGroup struct {
	repo    name.Repository
	subject v1.Hash
	jobs    []referrerJob
	read    referrersRead
}

// referrersRead is what was read ahead of a group's update: whether the
// registry serves the referrers API and, if not, the referrers tag's index
// (ok=false when there is none).
type referrersRead struct {
	done chan struct{}
	api  bool
	raw  []byte
	ok   bool
	err  error
}

// readReferrers groups the push's referrers by subject and starts reading,
// for each group, what its update needs (the registry's referrers API, asked
// once per registry, and the referrers tag), while the manifests are pushed:
// two round trips fewer after them. wait returns once every read ended
// (cancel ctx first to end them early).
func (p *pusher) readReferrers(ctx context.Context) (groups []*referrerGroup, wait func()) {
	byKey := map[string]*referrerGroup{}
	for _, j := range p.referrers {
		k := j.repo.Name() + "@" + j.subject.String()
		g := byKey[k]
		if g == nil {
			g = &referrerGroup{repo: j.repo, subject: j.subject, read: referrersRead{done: make(chan struct{})}}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.jobs = append(g.jobs, j)
	}
	return groups, p.inBackground(ctx, len(groups), func(i int) (err error) {
		g := groups[i]
		g.read.api, g.read.raw, g.read.ok, err = p.readReferrersTag(ctx, g.repo, g.subject)
		return err
	}, func(i int, err error) {
		groups[i].read.err = err
		close(groups[i].read.done)
	})
}

// readReferrersTag asks whether repo's registry serves the referrers API
// and, if not, reads subject's referrers tag: even in a new repository,
// since another push of the same subject may have written it since, and
// its referrers must be kept. While the registry's answer is not known the
// tag is read at the same time; that read is stopped and forgotten, its
// error included, if the registry has the API. (The probe runs once the
// subjects are in place, beside the referrers' PUTs: a registry with the
// API answers for a subject without referrers too, as the distribution
// spec requires; one that answered 404 would get a referrers tag it does
// not need, which clients never read there.)
func (p *pusher) readReferrersTag(ctx context.Context, repo name.Repository, subject v1.Hash) (bool, []byte, bool, error) {
	c, err := p.client(ctx, repo)
	if err != nil {
		return false, nil, false, err
	}
	tag, accept := ReferrersTag(subject), string(types.OCIImageIndex)
	probe, known := p.referrersProbe(repo)
	if known {
		if api, err := probe.ask(ctx, c, subject); err != nil || api {
			return api, nil, false, err
		}
		raw, ok, err := c.getManifest(ctx, tag, accept)
		return false, raw, ok, err
	}
	if !p.slots.TryAcquire(1) {
		// No second slot for the read: it waits for the answer.
		if api, err := probe.ask(ctx, c, subject); err != nil || api {
			return api, nil, false, err
		}
		raw, ok, err := c.getManifest(ctx, tag, accept)
		return false, raw, ok, err
	}
	type read struct {
		raw []byte
		ok  bool
		err error
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	got := make(chan read, 1)
	go func() {
		defer p.slots.Release(1)
		raw, ok, err := c.getManifest(rctx, tag, accept)
		got <- read{raw, ok, err}
	}()
	api, err := probe.ask(ctx, c, subject)
	if err != nil || api {
		stop()
		<-got
		return api, nil, false, err
	}
	r := <-got
	return false, r.raw, r.ok, r.err
}

// pushReferrersTags makes every pushed referrer findable: registries with
// the referrers API index them on PUT; for the others the subject's
// referrers tag is updated (read by readReferrers, merged, written back
// only if it changed, so a repeated push writes nothing).
func (p *pusher) pushReferrersTags(ctx context.Context, groups []*referrerGroup) error {
	for _, g := range groups {
		if err := p.updateReferrersTag(ctx, g); err != nil {
			return fmt.Errorf("%s: listing referrers of %s: %w", g.repo.Name(), short(g.subject), err)
		}
	}
	return nil
}

func (p *pusher) updateReferrersTag(ctx context.Context, g *referrerGroup) error {
	select {
	case <-g.read.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	rd := &g.read
	if rd.err != nil || rd.api {
		return rd.err
	}
	tag := ReferrersTag(g.subject)
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	if rd.ok {
		if err := json.Unmarshal(rd.raw, &idx); err != nil {
			return fmt.Errorf("parsing the referrers tag %s: %w", tag, err)
		}
		if idx.MediaType != types.OCIImageIndex {
			return fmt.Errorf("the referrers tag %s is a %s, not an OCI index", tag, idx.MediaType)
		}
	}
	changed := false
	for _, j := range g.jobs {
		if !slices.ContainsFunc(idx.Manifests, func(d v1.Descriptor) bool { return d.Digest == j.desc.Digest }) {
			idx.Manifests = append(idx.Manifests, j.desc)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	slices.SortFunc(idx.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	out, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	err = p.withSlot(ctx, func() error {
		c, err := p.client(ctx, g.repo)
		if err == nil {
			err = c.putManifest(ctx, tag, types.OCIImageIndex, out)
		}
		return err
	})
	if err != nil {
		return err
	}
	p.opts.Progress(PushEvent{Kind: "tag", Repo: g.repo.Name(), Digest: g.subject.String(), Tag: g.repo.Tag(tag).Name(), Status: "referrers"})
	return nil
}

// apiProbe is the one question, per registry and push, whether the
// registry serves the referrers API: 20 images pushed to one registry need
// one probe, not 20.
type apiProbe struct {
	once sync.Once
	done chan struct{}
	api  bool
	err  error
}

// referrersProbe returns repo's registry's probe; known is true when it
// was asked for before (its answer may still be on the way).
func (p *pusher) referrersProbe(repo name.Repository) (_ *apiProbe, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	reg := repo.RegistryStr()
	if pr := p.refAPI[reg]; pr != nil {
		return pr, true
	}
	if p.refAPI == nil {
		p.refAPI = map[string]*apiProbe{}
	}
	pr := &apiProbe{done: make(chan struct{})}
	p.refAPI[reg] = pr
	return pr, false
}

// ask returns the answer, asking the registry through c the first time;
// the others wait for that answer (or their ctx). A failed probe is the
// answer for everyone: the push fails before any tag moves.
func (pr *apiProbe) ask(ctx context.Context, c *repoClient, subject v1.Hash) (bool, error) {
	go pr.once.Do(func() {
		defer close(pr.done)
		pr.api, pr.err = c.hasReferrersAPI(ctx, subject)
	})
	select {
	case <-pr.done:
		return pr.api, pr.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// hasReferrersAPI reports whether the registry serves the OCI 1.1 referrers
// API for the repository.
func (c *repoClient) hasReferrersAPI(ctx context.Context, subject v1.Hash) (bool, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("referrers/"+subject.String(), nil), nil, http.Header{"Accept": {string(types.OCIImageIndex)}})
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), string(types.OCIImageIndex)) {
		return true, nil
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusMethodNotAllowed {
		return false, nil
	}
	return false, transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}

// getManifest GETs the manifest ref names, or ok=false when there is none.
func (c *repoClient) getManifest(ctx context.Context, ref, accept string) ([]byte, bool, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("manifests/"+ref, nil), nil, http.Header{"Accept": {accept}})
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return b, err == nil, err
	case http.StatusNotFound:
		return nil, false, nil
	}
	return nil, false, transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}
