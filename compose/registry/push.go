// Package registry is strata's registry side: it pushes artifacts (blobs
// first, then manifests by digest, tags last, so a failure never moves a
// tag), copies images between registries, OCI layouts and docker archives,
// lists tags, inspects and deletes manifests, and owns the one registry
// access policy ([TransportConfig]: credentials from the docker config and
// its helpers, the plain-HTTP gate, timeouts, retries) and the redaction of
// secrets from every message ([Redact]).
//
// It takes artifacts ([oci.Artifact]), never a spec's composition: it
// imports compose/oci and spec (the location and tag grammars), never
// package compose.
package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/strata-build/strata/compose/oci"
)

// PushRequest is one artifact and every tag it should get.
type PushRequest struct {
	// Artifact is the image or index to push.
	Artifact oci.Artifact
	// Tags are the destinations; they may name several repositories and
	// registries. At least one is required.
	Tags []name.Tag
	// Referrers are artifacts that refer to Artifact or one of its images
	// (OCI 1.1 subject: SBOMs, provenance, signatures). They are pushed by
	// digest to every destination repository after the artifact's own
	// manifests and before any tag. Where a registry lacks the referrers
	// API, the subject's referrers tag (sha256-HEX, an index listing them)
	// is updated, as cosign and oras read it.
	Referrers []v1.Image
	// MountFrom lists repositories whose blobs may be mounted cross-repo
	// into a destination on the same registry instead of being uploaded,
	// typically the base image's repository.
	MountFrom []name.Repository
	// Version is the release the artifact is ("2.0.9", a spec's semver), or
	// "". A tag of Tags named as one of its floating tags ("2.0" and "2",
	// see spec.SemverTags) is then moved or created only when no tag of
	// that repository is a higher release of the tag's line; otherwise it
	// is held (TagHeld), unless PushOptions.ForceFloating is set. Each
	// repository's tag list is read once.
	Version string
	// Lent lists blobs of Artifact that its MountFrom repositories hold
	// (the base's layers), so that they cost no bytes to place again where
	// a MountFrom repository is on the same registry: in a repository
	// listed as new (PushOptions.New) they are mounted at once, never held
	// back for, or used as, the probe that confirms the listing (one whose
	// mount the registry refuses is asked for before its bytes are sent).
	Lent []v1.Hash
	// Built says the command made Artifact and Referrers and holds them:
	// their configs and documents may go up in upload sessions a Streamer
	// opened ahead (Streamer.Reserve). Leave it unset for a copy (its
	// blobs are mounted from where they are).
	Built bool
	// Present lists repositories of Tags known to hold the artifact
	// already (its manifest was found there by digest; a registry keeps a
	// manifest's blobs and child manifests with it): nothing is checked or
	// uploaded there, only its tags are set.
	Present []name.Repository
}

// TagStatus says what pushing did to a tag.
type TagStatus string

// Tag outcomes.
const (
	TagCreated   TagStatus = "created"   // the tag did not exist
	TagMoved     TagStatus = "moved"     // the tag pointed at another digest
	TagUnchanged TagStatus = "unchanged" // the tag already pointed at the digest
	TagHeld      TagStatus = "held"      // a floating tag left alone: a higher release of its line exists
)

// TagResult is the outcome for one tag.
type TagResult struct {
	Tag    string    `json:"tag"`
	Digest string    `json:"digest"`
	Status TagStatus `json:"status"`
	// Previous is the digest a moved tag pointed at before, or a held tag
	// still points at ("" when it does not exist).
	Previous string `json:"previous,omitempty"`
	// HeldBy is, for a held tag, the higher release of its line that the
	// repository has (a tag such as "2.1.0").
	HeldBy string `json:"heldBy,omitempty"`
}

// PlatformDigest is the manifest digest of one platform of an image.
type PlatformDigest struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// PushedArtifact reports one request.
type PushedArtifact struct {
	Digest    string           `json:"digest"`
	MediaType string           `json:"mediaType"`
	Platforms []PlatformDigest `json:"platforms,omitempty"`
	Tags      []TagResult      `json:"tags"`
	// Version is the request's Version.
	Version string `json:"version,omitempty"`
	// Referrers are the digests of the attached referrer manifests.
	Referrers []string `json:"referrers,omitempty"`
}

// PushReport says what Push did. Blob counts are per destination repository:
// a blob needed in two repositories counts twice.
type PushReport struct {
	Artifacts     []PushedArtifact `json:"images"`
	BlobsUploaded int              `json:"blobsUploaded"`
	BlobsMounted  int              `json:"blobsMounted"`
	BlobsSkipped  int              `json:"blobsSkipped"`
	BytesUploaded int64            `json:"bytesUploaded"`
	// Blobs says what happened to each blob in each destination
	// repository, sorted by repository and digest.
	Blobs []BlobResult `json:"blobs"`
}

// BlobResult is what Push did with one blob in one repository.
type BlobResult struct {
	Repo   string `json:"repo"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Status is "uploaded", "mounted" (cross-repository) or "skipped"
	// (the repository had it).
	Status string `json:"status"`
	// BytesUploaded is Size for an upload, else 0.
	BytesUploaded int64 `json:"bytesUploaded"`
}

// PushEvent reports progress; see WithPushProgress.
type PushEvent struct {
	// Kind is "blob", "manifest" or "tag".
	Kind string
	// Repo is the destination repository.
	Repo string
	// Digest is the blob's or manifest's digest.
	Digest string
	// Size is the blob size; Done the bytes sent so far (uploads).
	Size, Done int64
	// Status is "uploading", "uploaded", "mounted" or "skipped" for blobs,
	// "pushed" or "exists" for manifests, and a TagStatus for tags.
	Status string
	// Tag is set for tag events.
	Tag string
}

// PushOptions are the optional settings of Push.
type PushOptions struct {
	// Transport is the registry access policy (credentials, TLS, timeouts,
	// retries).
	Transport TransportConfig
	// Jobs is how many requests the push sends at once (the caller's
	// concurrency budget): blobs, manifests and tags, and the early reads,
	// referrers and writer that run beside them; 0 means 4.
	Jobs int
	// Progress, when set, is called for every progress event, from several
	// goroutines at once; it must be quick.
	Progress func(PushEvent)
	// ForceFloating moves floating semver tags even below a higher release
	// of their line (see PushRequest.Version).
	ForceFloating bool
	// Streams are the Streamers that uploaded blobs beside the push: a
	// blob one of them committed to its repository, or is committing
	// (CommitLater, waited for outside the Jobs budget), counts as
	// uploaded there and is not checked again; one whose commit failed is
	// placed as usual.
	Streams []*Streamer
	// New names repositories (as name.Repository.Name gives them) that did
	// not exist when the caller listed them: there, blobs and manifests are
	// pushed without asking first whether the repository has them, since
	// it holds only what this push puts there (or what a writer racing it
	// did, which pushing again does not harm). One HEAD, of the largest
	// blob this push would send bytes of there (not one streamed, lent or
	// its own small one; none, no HEAD), confirms that: a first push that
	// failed after its blobs leaves a repository without tags, which a
	// listing reports as missing, and its rerun asks as usual. Tags and
	// the referrers tag are still asked for.
	New []string
	// Listed holds the tags repositories had when the caller listed them
	// (repository name, as name.Repository.Name gives it → tag → true); a
	// repository it lacks was not listed. It only decides when a tag of an
	// image its repository already had is read (see checkTags): one the
	// listing shows, most often in place, is read once, at the tags step.
	Listed map[string]map[string]bool
	// BeforeTags, when set, is called once the images' blobs and manifests
	// are in place, and runs while the referrers and then the tags are
	// pushed (a cache record that needs the image and its documents, but
	// not its tags). w writes through the push's clients: its blobs go up
	// at once, its manifests only once every referrer is in place, and
	// none if the push fails before its tags (ErrPushFailed). Push returns
	// only after it has returned. It is not called when an earlier step
	// fails.
	BeforeTags func(ctx context.Context, w *Writer)
}

// Push pushes every request's artifact to its tags, in an order that never
// leaves a tag pointing at an incomplete graph:
//
//  1. every blob (layers and configs) of every request: skipped when the
//     repository has it (HEAD; not asked in a PushOptions.New repository), mounted from a MountFrom repository or from
//     another destination repository on the same registry, else uploaded;
//     a blob shared by several requests is uploaded at most once per
//     registry;
//  2. image manifests by digest, then indexes by digest (children first);
//  3. referrers (PushRequest.Referrers) by digest, and the referrers tag
//     schema's index where the registry has no referrers API;
//  4. tags, last; a tag that already points at the digest is left alone,
//     and so is a floating semver tag that would move backwards (see
//     PushRequest.Version).
//
// A failure in steps 1 to 3 moves no tag. If step 3 fails, the report
// returned with the error lists the tags that were applied. Requests that
// fail transiently (5xx, 429, connection resets) are retried as the
// TransportConfig says. Errors name the registry, repository and step.
func Push(ctx context.Context, reqs []PushRequest, o PushOptions) (*PushReport, error) {
	if o.Jobs < 0 {
		return nil, fmt.Errorf("registry: push jobs must be at least 1, got %d", o.Jobs)
	}
	if o.Jobs == 0 {
		o.Jobs = 4
	}
	o.Transport = o.Transport.withDefaults()
	if o.Progress == nil {
		o.Progress = func(PushEvent) {}
	}
	rt, err := NewTransport(o.Transport)
	if err != nil {
		return nil, err
	}
	p := &pusher{opts: &o, rt: rt, clients: map[string]*clientEntry{}, newRepos: map[string]bool{},
		probes: map[string]*newProbe{}, found: map[string]bool{},
		slots: semaphore.NewWeighted(int64(o.Jobs))}
	for _, r := range o.New {
		p.newRepos[r] = true
	}
	if err := p.plan(reqs); err != nil {
		return nil, err
	}
	cctx, stopChecks := context.WithCancel(ctx)
	waitManifests := p.checkManifests(cctx)
	defer func() { stopChecks(); waitManifests() }()
	// The sessions opened ahead that no blob took are deleted beside the
	// tags, or, when the push fails before them, on the way out.
	dropped := false
	defer func() {
		if !dropped {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dropTimeout)
			p.dropSessions(dctx)()
			cancel()
		}
	}()
	if err := p.pushBlobs(ctx); err != nil {
		return nil, err
	}
	if err := p.pushManifests(ctx, p.manifests); err != nil {
		return nil, err
	}
	// The images are in place: the tags are read, and BeforeTags starts,
	// its blobs going up, while the referrers are pushed; its manifests
	// go once they are (Writer).
	// (On return everything still running is cancelled first, then waited
	// for: the tag and referrers reads, and BeforeTags, whose writer lets
	// no manifest through for a push that failed before its tags.)
	tctx, stopTagReads := context.WithCancel(ctx)
	waitTags := p.checkTags(tctx)
	var w *Writer
	beforeDone := make(chan struct{})
	if o.BeforeTags != nil {
		bctx, cancel := context.WithCancel(ctx)
		w = newWriter(p, cancel)
		go func() {
			defer close(beforeDone)
			o.BeforeTags(bctx, w)
		}()
	} else {
		close(beforeDone)
	}
	// The referrers' subjects are in place: what the referrers tags need
	// is read while the referrers are pushed.
	rctx, stopReads := context.WithCancel(ctx)
	groups, waitReads := p.readReferrers(rctx)
	defer func() {
		stopTagReads()
		stopReads()
		if w != nil {
			w.settle(false)
		}
		waitTags()
		waitReads()
		<-beforeDone
		if w != nil {
			w.cancel()
		}
	}()
	if err := p.pushManifests(ctx, [][]*manifestJob{p.refManifests}); err != nil {
		return nil, err
	}
	if err := p.pushReferrersTags(ctx, groups); err != nil {
		return nil, err
	}
	if err := p.holdFloating(ctx); err != nil {
		return nil, fmt.Errorf("%w (no tag was changed)", err)
	}
	if w != nil {
		w.settle(true)
	}
	dropped = true
	defer p.dropSessions(ctx)()
	err = p.pushTags(ctx)
	return p.report(), err
}

// pusher holds the state of one Push call.
type pusher struct {
	opts *PushOptions
	rt   http.RoundTripper

	arts      []*artifactPlan
	blobs     []*blobJob       // in first-seen order
	manifests [][]*manifestJob // images, then indexes level by level
	// refManifests are the referrers' manifests, pushed once every
	// subject is in place.
	refManifests []*manifestJob
	referrers    []referrerJob

	slots    *semaphore.Weighted // Jobs: requests at once (withSlot)
	newRepos map[string]bool     // PushOptions.New
	probes   map[string]*newProbe
	// checks is set before the blobs, tagChecks once the images are in
	// place; each before the goroutines that read it start.
	checks    map[*manifestJob]*manifestCheck
	tagChecks map[tagKey]*tagCheck

	mu      sync.Mutex
	clients map[string]*clientEntry
	refAPI  map[string]*apiProbe // registry → whether it serves the referrers API (asked once)
	// found holds the manifests (repository@digest) their repository
	// already had, which the push did not put; checkTags asks it about
	// the artifacts' own manifests.
	found map[string]bool
	// counters, under mu
	uploaded, mounted, skipped int
	bytes                      int64
	blobResults                []BlobResult
}

type clientEntry struct {
	once sync.Once
	c    *repoClient
	err  error
}

// client returns the (shared) authenticated client for repo.
func (p *pusher) client(ctx context.Context, repo name.Repository) (*repoClient, error) {
	p.mu.Lock()
	e, ok := p.clients[repo.Name()]
	if !ok {
		e = &clientEntry{}
		p.clients[repo.Name()] = e
	}
	p.mu.Unlock()
	e.once.Do(func() {
		e.c, e.err = newRepoClient(ctx, p.opts.Transport, p.rt, repo, p.pullRepos(repo))
	})
	return e.c, e.err
}

// pullRepos lists the repositories on repo's registry that blobs may be
// mounted from into repo.
func (p *pusher) pullRepos(repo name.Repository) []name.Repository {
	var out []name.Repository
	seen := map[string]bool{repo.Name(): true}
	add := func(r name.Repository) {
		if r.RegistryStr() == repo.RegistryStr() && !seen[r.Name()] {
			seen[r.Name()] = true
			out = append(out, r)
		}
	}
	for _, b := range p.blobs {
		for _, r := range b.mountFrom {
			add(r)
		}
		for _, r := range b.repos {
			add(r)
		}
	}
	return out
}

// report assembles the final report.
func (p *pusher) report() *PushReport {
	r := &PushReport{}
	for _, a := range p.arts {
		r.Artifacts = append(r.Artifacts, a.result)
	}
	p.mu.Lock()
	r.BlobsUploaded, r.BlobsMounted, r.BlobsSkipped, r.BytesUploaded = p.uploaded, p.mounted, p.skipped, p.bytes
	r.Blobs = slices.Clone(p.blobResults)
	p.mu.Unlock()
	slices.SortFunc(r.Blobs, func(a, b BlobResult) int {
		return cmp.Or(strings.Compare(a.Repo, b.Repo), strings.Compare(a.Digest, b.Digest))
	})
	return r
}

// pushManifests PUTs image manifests, then indexes level by level, each by
// digest in every destination repository.
func (p *pusher) pushManifests(ctx context.Context, levels [][]*manifestJob) error {
	for _, level := range levels {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(p.opts.Jobs)
		for _, m := range level {
			g.Go(func() error { return p.pushManifest(gctx, m) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

func (p *pusher) pushManifest(ctx context.Context, m *manifestJob) error {
	step := func(what string, err error) error {
		return fmt.Errorf("%s: %s manifest %s: %w", m.repo.Name(), what, short(m.digest), rateLimited(m.repo, err))
	}
	ok, asked, err := p.manifestThere(ctx, m)
	if err != nil {
		return step("checking", err)
	}
	return p.withSlot(ctx, func() error { return p.placeManifest(ctx, m, ok, asked, step) })
}

// placeManifest puts m unless its repository has it (ok, when asked).
func (p *pusher) placeManifest(ctx context.Context, m *manifestJob, ok, asked bool, step func(string, error) error) error {
	c, err := p.client(ctx, m.repo)
	if err != nil {
		return err
	}
	if !asked && !p.stillNew(ctx, c, m.repo) {
		if _, ok, err = c.headManifest(ctx, m.digest.String()); err != nil {
			return step("checking", err)
		}
	}
	if ok {
		p.noteFound(m.repo, m.digest)
		p.opts.Progress(PushEvent{Kind: "manifest", Repo: m.repo.Name(), Digest: m.digest.String(), Status: "exists"})
		return nil
	}
	if err := c.putManifest(ctx, m.digest.String(), m.mediaType, m.raw); err != nil {
		return step("pushing", err)
	}
	p.opts.Progress(PushEvent{Kind: "manifest", Repo: m.repo.Name(), Digest: m.digest.String(), Status: "pushed"})
	return nil
}

// noteFound records that repo had the manifest d before the push.
func (p *pusher) noteFound(repo name.Repository, d v1.Hash) {
	p.mu.Lock()
	p.found[repo.Name()+"@"+d.String()] = true
	p.mu.Unlock()
}

// wasFound reports whether repo had the manifest d before the push.
func (p *pusher) wasFound(repo name.Repository, d v1.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.found[repo.Name()+"@"+d.String()]
}

// short abbreviates a digest for messages.
func short(h v1.Hash) string {
	s := h.String()
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

var errNoTags = errors.New("registry: push request has no tags")

// dropTimeout bounds the deletion of unused upload sessions after a push
// failed: they are a courtesy to the registry, which cleans them up too.
const dropTimeout = 10 * time.Second
