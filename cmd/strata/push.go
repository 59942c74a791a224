package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/registry"
)

// pushFlags are push's own flags.
type pushFlags struct {
	tags  []string
	image string
	jobs  int
}

func (a *app) pushCmd() *cobra.Command {
	var bf buildFlags
	var pf pushFlags
	c := &cobra.Command{
		Use:   "push [SPEC...]",
		Short: "Compose images and push them to every tag",
		Long: `Push builds each spec (default: image.yaml) as strata build does, then pushes
it: all blobs first (blobs the repository has are skipped, blobs of the base's
repository on the same registry are mounted), manifests by digest, the index
by digest, and the tags last, so a failure moves no tag.

Tags: every entry of the spec's tags (a bare tag belongs to the spec's image
repository; a full reference may name any registry), the semver fan-out of
semver (2.1.106 → 2.1.106, 2.1, 2; a prerelease only tags itself), and any
--tag. A tag that already points at the digest is left alone. Several specs
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
	c.Flags().IntVar(&pf.jobs, "push-jobs", 8, "blobs, manifests and tags pushed at once")
	return c
}

// pushedSpec is the --json shape of one pushed spec.
type pushedSpec struct {
	Spec string `json:"spec"`
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
	rf := &bf.reg
	if pf.jobs < 1 {
		return usagef("--push-jobs must be at least 1, got %d", pf.jobs)
	}
	ctx, cancel := rf.withTimeout(ctx)
	defer cancel()
	job, err := a.buildJob(args, bf, nil)
	if err != nil {
		return err
	}
	// A docker archive with nothing added is pushed as it is. Layers
	// that are compressed are uploaded on the way.
	streams := &pushStreams{cfg: rf.cfg, image: pf.image, tags: pf.tags}
	results, err := compose.BuildAll(ctx, job.specs, job.paths, job.cacheDir, append(job.opts, compose.WithArchiveAsIs(), compose.WithLayerTee(streams.tee))...)
	if err != nil {
		return redacted(err, rf)
	}
	reqs := make([]registry.PushRequest, len(results))
	for i, res := range results {
		tags, err := res.PushTags(pf.image, pf.tags)
		if err != nil {
			return usagef("%s: %v", job.paths[i], err)
		}
		if len(tags) == 0 {
			return usagef("%s: nothing to push to: the spec has no tags or semver (set image and tags, or pass --tag REGISTRY/REPO:TAG)", job.paths[i])
		}
		reqs[i] = registry.PushRequest{Artifact: res.Artifact, Tags: tags, MountFrom: res.MountFrom()}
	}
	progress, done := a.pushProgress(rf.stderr, false)
	start := time.Now()
	rep, err := registry.Push(ctx, reqs, registry.PushOptions{Transport: rf.cfg, Jobs: pf.jobs, Progress: progress, Streamed: streams.uploaded()})
	done()
	if rep != nil {
		a.printTagReport(rep)
	}
	if err != nil {
		return redacted(err, rf)
	}
	if bf.json {
		out := pushReport{BlobsUploaded: rep.BlobsUploaded, BlobsMounted: rep.BlobsMounted, BlobsSkipped: rep.BlobsSkipped, BytesUploaded: rep.BytesUploaded}
		for i, art := range rep.Artifacts {
			out.Images = append(out.Images, pushedSpec{Spec: job.paths[i], PushedArtifact: art, Layers: pushedLayers(results[i], rep.Blobs)})
		}
		return writeJSON(a, out)
	}
	a.printPushSummary(rep, time.Since(start))
	for _, art := range rep.Artifacts {
		fmt.Fprintln(a.stdout, art.Digest)
	}
	return nil
}
