package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/attach"
	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/compose/remotecache"
	"github.com/strata-build/strata/compose/sbom"
)

// pushFlags are push's own flags.
type pushFlags struct {
	tags          []string
	image         string
	jobs          int
	forceFloating bool
	supply        supplyFlags
	noRemoteCache bool
	cacheFrom     []string
}

func (a *app) pushCmd() *cobra.Command {
	var bf buildFlags
	var pf pushFlags
	c := &cobra.Command{
		Use:   "push [SPEC...]",
		Short: "Compose images and push them to every tag",
		Long: `Push builds each spec (default as for build) as strata build does, then pushes
it: all blobs first (blobs the repository has are skipped, blobs of the base's
repository on the same registry are mounted), manifests by digest, the index
by digest, and the tags last, so a failure moves no tag.

Tags: every entry of the spec's tags (a bare tag belongs to the spec's image
repository; a full reference may name any registry), the semver fan-out of
semver (2.1.106 → 2.1.106, 2.1, 2; a prerelease only tags itself), and any
--tag. A tag that already points at the digest is left alone. A floating
tag (2.1, 2) moves only when the version is the highest release of its line
in the repository: pushing a backport 2.0.9 after 2.1.0 holds 2 on 2.1.0
(reported as held) unless --force-floating is given. Several specs
are pushed in one go; a blob they share is uploaded once per registry.

Credentials come from the docker config ($DOCKER_CONFIG/config.json or
~/.docker/config.json) and its credential helpers: a docker-credential-NAME
helper is the only program strata ever starts. Plain HTTP is used only for
loopback registries and those named with --insecure-registry.

It prints each spec's digest; --json prints the report (digests per
platform, tags and their status, blob counts, bytes uploaded).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPush(cmd.Context(), args, &bf, &pf)
		},
	}
	bf.register(c)
	c.Flags().StringArrayVar(&pf.tags, "tag", nil, "also push to `TAG` (a bare tag in the image repository, or a full reference; repeatable)")
	c.Flags().StringVar(&pf.image, "image", "", "the `REPOSITORY` bare tags belong to (overrides the spec's image)")
	c.Flags().IntVar(&pf.jobs, "push-jobs", 8, "requests the push sends at once (blobs, manifests, tags, records)")
	c.Flags().BoolVar(&pf.forceFloating, "force-floating", false, "move floating semver tags (2.1, 2) even below a higher release of their line")
	pf.supply.register(c, true)
	pf.supply.registerSign(c)
	c.Flags().BoolVar(&pf.noRemoteCache, "no-remote-cache", false, remoteCacheUsage)
	c.Flags().StringArrayVar(&pf.cacheFrom, "cache-from", nil, "also look images up in the registry cache of `REPOSITORY`, after the image's own (repeatable; a hit is copied, blobs mounted on the same registry)")
	return c
}

// pushedSpec is the --json shape of one pushed spec.
type pushedSpec struct {
	Spec string `json:"spec"`
	// Source is built, local-cache, registry-cache or unchanged.
	Source string `json:"source"`
	// BytesRead and BytesCompressed are the context bytes read (keys and
	// layers) and the layer bytes compressed for this image.
	BytesRead       int64 `json:"bytesRead"`
	BytesCompressed int64 `json:"bytesCompressed"`
	// BytesUploaded counts the blob bytes uploaded for this image; a blob
	// two images share in one repository counts for the first.
	BytesUploaded int64 `json:"bytesUploaded"`
	registry.PushedArtifact
	Layers []pushedLayer `json:"layers"`
}

// pushReport is the --json shape of a push.
type pushReport struct {
	Images        []pushedSpec `json:"images"`
	BlobsUploaded int          `json:"blobsUploaded"`
	BlobsMounted  int          `json:"blobsMounted"`
	BlobsSkipped  int          `json:"blobsSkipped"`
	BytesUploaded int64        `json:"bytesUploaded"`
}

func (a *app) runPush(ctx context.Context, args []string, bf *buildFlags, pf *pushFlags) error {
	a.jsonErrors = bf.json
	rf := &bf.reg
	if pf.jobs < 1 {
		return usagef("--push-jobs must be at least 1, got %d", pf.jobs)
	}
	ctx, cancel := rf.withTimeout(ctx)
	defer cancel()
	if err := pf.supply.check(); err != nil {
		return err
	}
	signer, err := pf.supply.signer(a)
	if err != nil {
		return err
	}
	job, err := a.buildJob(ctx, args, bf, nil)
	if err != nil {
		return err
	}
	// The registry cache: specs whose image the registry already has are
	// not built (a --locked push checks every build, so it builds).
	// A docker archive with nothing added is pushed as it is. Layers
	// that are compressed are uploaded on the way.
	sctx, stopStreams := context.WithCancel(ctx)
	streams := &pushStreams{ctx: sctx, cfg: rf.cfg, image: pf.image, tags: pf.tags,
		sessions: uploadsPerImage(pf), docs: len(pf.supply.docTypes()) > 0}
	defer func() { stopStreams(); streams.wait(ctx) }()
	// The key pass and the build resolve each base tag once, together,
	// and the build does not read again an input the key pass hashed.
	opts := append(job.opts, compose.WithArchiveAsIs(), compose.WithLayerTee(streams.tee),
		compose.WithBaseTags(&base.Tags{}), compose.WithLayerSums(&layer.Sums{}))
	// Each registry base resolves while the registry cache is listed.
	pctx, stopPrefetch := context.WithCancel(ctx)
	waitPrefetch := compose.PrefetchBases(pctx, job.specs, job.cacheDir, opts...)
	defer func() { stopPrefetch(); waitPrefetch() }()
	cacheFrom, err := cacheFromRepos(pf.cacheFrom, pf.noRemoteCache)
	if err != nil {
		return err
	}
	if signer != nil && len(cacheFrom) > 0 {
		return usagef("--cache-from cannot be used with --sign-key: an image copied from another repository would not carry this key's signature")
	}
	opts = append(opts, pf.supply.observe(job.cacheDir)...)
	var cache *remoteCache
	if !pf.noRemoteCache && job.locks == nil {
		lo := lookupOptions{image: pf.image, extra: pf.tags, cacheFrom: cacheFrom, docTypes: pf.supply.docTypes(), jobs: pf.jobs, fetch: true}
		if cache, err = a.lookupRemoteCache(ctx, job, rf, lo, opts); err != nil {
			return err
		}
	}
	var bases *baseFiles
	if cache != nil {
		var memo *sbom.Memo
		if pf.supply.sbom {
			memo = pf.supply.sbomMemo(job.cacheDir)
		}
		bases = newBaseFiles(cache, job.specs, job.cacheDir, memo, pf.image, pf.tags)
		opts = append(opts, bases.option()...)
	}
	results, err := cache.build(ctx, job, opts)
	bases.printWarnings(a, rf)
	if err != nil {
		return redacted(err, rf)
	}
	if err := job.checkLocks(ctx, results); err != nil {
		return err
	}
	// The documents of every image the registry cache did not have, made
	// at once (SBOMs within the --jobs budget).
	atts := pf.supply.attachAll(ctx, a, job, results, func(i int) bool { return !cache.hit(i) }, bf.jobs)
	reqs := make([]registry.PushRequest, len(results))
	var bad []specFailure // every spec without tags, by path
	var extra []registry.PushRequest
	for i, res := range results {
		printWarnings(a, job.paths[i], res)
		tags, err := res.PushTags(pf.image, pf.tags)
		if err != nil {
			bad = append(bad, specFailure{job.paths[i], usagef("%s: %v", job.paths[i], err)})
			continue
		} else if len(tags) == 0 {
			bad = append(bad, specFailure{job.paths[i], usagef("%s: nothing to push to: the spec has no tags or semver (set image and tags, or pass --tag REGISTRY/REPO:TAG)", job.paths[i])})
			continue
		}
		reqs[i] = registry.PushRequest{Artifact: res.Artifact, Tags: tags, MountFrom: res.MountFrom(), Version: res.Spec.Semver}
		if cache.hit(i) {
			// The registry cache checked the image is there: only tags
			// move (its documents and signatures were pushed with it). An
			// image found through --cache-from is copied from its
			// repository (mounted on the same registry), without them.
			if from := cache.from[i]; from != nil {
				reqs[i].MountFrom = append(reqs[i].MountFrom, *from)
				reqs[i].Referrers = cache.refs[i]
			} else {
				reqs[i].Present = []name.Repository{*cache.repos[i]}
			}
			continue
		}
		if err := atts[i].err; err != nil {
			return redacted(fmt.Errorf("%s: %w", job.paths[i], err), rf)
		}
		reqs[i].Referrers, reqs[i].Built = attach.Referrers(atts[i].docs), true
		if len(reqs[i].MountFrom) > 0 {
			if reqs[i].Lent, err = res.BaseLayers(); err != nil {
				return fmt.Errorf("%s: listing the base's layers: %w", job.paths[i], err)
			}
		}
		if signer != nil {
			sigs, err := attach.Signatures(res, atts[i].docs, repositories(tags), signer)
			if err != nil {
				return fmt.Errorf("%s: %w", job.paths[i], err)
			}
			for _, s := range sigs {
				extra = append(extra, registry.PushRequest{Artifact: oci.Artifact{Image: s.Image}, Tags: []name.Tag{s.Tag}, Built: true})
			}
		}
	}
	if len(bad) > 0 {
		return joinFailures(bad)
	}
	// Signatures are pushed with the images, their tags after every blob
	// and manifest; they are not reported as images.
	reqs = append(reqs, extra...)
	progress, done := a.pushProgress(rf.stderr, false)
	var uploads uploadCounter
	start := time.Now()
	// The registry cache's records need the images and their documents,
	// not their tags: they go through the push's writer (no new
	// authentication, two requests a blob), their blobs while the
	// referrers are pushed and their manifests once the referrers are in
	// place, beside the tags. Signed images record after their tags (a hit
	// moves tags only, so it must not find an image whose signature tag
	// was never written).
	recorded := false
	record := func(ctx context.Context, w *registry.Writer) {
		recorded = true
		var put remotecache.Putter
		if w != nil {
			put = w
		}
		var published sync.WaitGroup
		published.Go(func() { bases.publishAll(ctx, pf.jobs, put) })
		cache.record(ctx, a, rf, job, results, pf.jobs, put)
		published.Wait()
	}
	po := registry.PushOptions{Transport: rf.cfg, Jobs: pf.jobs, Progress: uploads.wrap(progress), ForceFloating: pf.forceFloating, Streams: streams.all(), New: cache.newRepositories(ctx),
		Listed: cache.listedTags(ctx)}
	if signer == nil {
		po.BeforeTags = record
	}
	rep, err := registry.Push(ctx, reqs, po)
	done()
	for _, w := range streams.warnings() {
		fmt.Fprintf(a.stderr, "strata: warning: %v (the push uploaded the layer again)\n", redacted(w, rf))
	}
	if rep != nil && len(rep.Artifacts) > len(results) {
		rep.Artifacts = rep.Artifacts[:len(results)]
	}
	if rep != nil {
		a.printTagReport(rep)
	}
	bases.printWarnings(a, rf) // (the records may be written even when a tag failed)
	if err != nil {
		return redacted(err, rf)
	}
	if !recorded {
		record(ctx, nil)
	}
	bases.printWarnings(a, rf)
	if bf.json {
		out := pushReport{BlobsUploaded: rep.BlobsUploaded, BlobsMounted: rep.BlobsMounted, BlobsSkipped: rep.BlobsSkipped, BytesUploaded: rep.BytesUploaded}
		for i, art := range rep.Artifacts {
			up, err := uploads.take(reqs[i])
			if err != nil {
				return err
			}
			out.Images = append(out.Images, pushedSpec{Spec: job.paths[i], Source: cache.source(i, results[i], art),
				BytesRead: cache.bytesRead(i, results[i]), BytesCompressed: results[i].BytesCompressed, BytesUploaded: up,
				PushedArtifact: art, Layers: pushedLayers(results[i], rep.Blobs)})
		}
		return writeJSON(a, out)
	}
	a.printPushSummary(rep, time.Since(start))
	if n := cache.hitCount(); n > 0 {
		fmt.Fprintf(a.stderr, "strata: %d of %d images reused from the registry cache (nothing built)\n", n, len(results))
	}
	for _, art := range rep.Artifacts {
		fmt.Fprintln(a.stdout, art.Digest)
	}
	return nil
}

// The push's writer puts the registry cache's records.
var _ remotecache.Putter = (*registry.Writer)(nil)

// cacheFromRepos parses the --cache-from repositories.
func cacheFromRepos(args []string, off bool) ([]name.Repository, error) {
	if off && len(args) > 0 {
		return nil, usagef("--cache-from and --no-remote-cache exclude each other")
	}
	var out []name.Repository
	for _, a := range args {
		r, err := name.NewRepository(a)
		if err != nil {
			return nil, usagef("--cache-from %q: want a repository, e.g. registry.example/team/app", a)
		}
		out = append(out, r)
	}
	return out, nil
}

// repositories lists the repositories of tags, once each, in order.
func repositories(tags []name.Tag) []name.Repository {
	var out []name.Repository
	seen := map[string]bool{}
	for _, t := range tags {
		if r := t.Context(); !seen[r.Name()] {
			seen[r.Name()] = true
			out = append(out, r)
		}
	}
	return out
}
