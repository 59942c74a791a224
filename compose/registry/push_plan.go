package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/ctxio"
)

// artifactPlan is one request, resolved.
type artifactPlan struct {
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
	tags      []name.Tag
	version   string            // PushRequest.Version
	heldBy    map[string]string // held floating tag → the higher release
	result    PushedArtifact
}

// blobJob is one blob to place in one or more repositories of one registry.
type blobJob struct {
	digest    v1.Hash
	size      int64
	open      func(ctx context.Context) (io.ReadCloser, error)
	repos     []name.Repository // destinations, in first-seen order
	mountFrom []name.Repository // same-registry repositories to mount from
	// own is set for a small blob the push holds (an image's config, a
	// referrer's config and documents): sending it again costs next to
	// nothing, so it is never the probe of a new repository.
	own bool
	// made is set for an own blob of a PushRequest.Built request: a
	// Streamer's spare session may take it (see Streamer.Reserve), without
	// asking another repository to lend it.
	made bool
	// lent is set for a blob a MountFrom repository on the same registry
	// holds (PushRequest.Lent).
	lent bool
}

// manifestJob is one manifest to PUT by digest in one repository.
type manifestJob struct {
	repo      name.Repository
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
}

// node is a manifest found while walking an artifact.
type node struct {
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
	depth     int // 0 for images; indexes: 1 + deepest child
	platform  string
	blobs     []blobSource
}

type blobSource struct {
	digest v1.Hash
	size   int64
	own    bool // see blobJob.own
	open   func(ctx context.Context) (io.ReadCloser, error)
}

// plan resolves every request into blob and manifest jobs.
func (p *pusher) plan(reqs []PushRequest) error {
	blobIdx := map[string]*blobJob{} // registry + digest
	manIdx := map[string]bool{}      // repo + digest
	var levels [][]*manifestJob
	var refLevel []*manifestJob // referrer manifests, pushed after every other
	for ri, req := range reqs {
		if len(req.Tags) == 0 {
			return fmt.Errorf("request %d: %w", ri, errNoTags)
		}
		nodes, err := walkArtifact(req.Artifact)
		if err != nil {
			return err
		}
		top := nodes[len(nodes)-1]
		a := &artifactPlan{digest: top.digest, mediaType: top.mediaType, raw: top.raw, tags: req.Tags, version: req.Version}
		a.result = PushedArtifact{Digest: top.digest.String(), MediaType: string(top.mediaType), Version: req.Version}
		for _, n := range nodes {
			if n.platform != "" {
				a.result.Platforms = append(a.result.Platforms, PlatformDigest{Platform: n.platform, Digest: n.digest.String()})
			}
		}
		p.arts = append(p.arts, a)

		var repos []name.Repository
		seen := map[string]bool{}
		for _, t := range req.Tags {
			if r := t.Context(); !seen[r.Name()] {
				seen[r.Name()] = true
				repos = append(repos, r)
			}
		}
		var refNodes []node
		for _, r := range req.Referrers {
			rn, err := walkArtifact(oci.Artifact{Image: r})
			if err != nil {
				return fmt.Errorf("referrer: %w", err)
			}
			m, err := r.Manifest()
			if err != nil {
				return fmt.Errorf("referrer: %w", err)
			}
			if m.Subject == nil {
				return fmt.Errorf("referrer %s has no subject", rn[0].digest)
			}
			n := rn[len(rn)-1]
			// A referrer's config and documents are the push's own.
			for i := range n.blobs {
				n.blobs[i].own = n.blobs[i].size <= monolithicMax
			}
			refNodes = append(refNodes, n)
			a.result.Referrers = append(a.result.Referrers, n.digest.String())
			for _, repo := range repos {
				p.referrers = append(p.referrers, referrerJob{repo: repo, subject: m.Subject.Digest, desc: v1.Descriptor{
					MediaType: n.mediaType, Digest: n.digest, Size: int64(len(n.raw)), ArtifactType: m.ArtifactType, Annotations: m.Annotations,
				}})
			}
		}
		for _, repo := range repos {
			// An image the registry already has (a registry cache hit)
			// needs nothing but its tags there.
			if slices.ContainsFunc(req.Present, func(r name.Repository) bool { return r.Name() == repo.Name() }) {
				p.noteFound(repo, a.digest)
				continue
			}
			place := func(n node, level int) {
				for _, b := range n.blobs {
					key := repo.RegistryStr() + "|" + b.digest.String()
					j, ok := blobIdx[key]
					if !ok {
						j = &blobJob{digest: b.digest, size: b.size, open: b.open}
						blobIdx[key] = j
						p.blobs = append(p.blobs, j)
					}
					j.own = j.own || b.own
					j.made = j.made || b.own && req.Built
					j.repos = appendRepo(j.repos, repo)
					for _, m := range req.MountFrom {
						if m.RegistryStr() == repo.RegistryStr() {
							j.mountFrom = appendRepo(j.mountFrom, m)
							j.lent = j.lent || slices.Contains(req.Lent, b.digest)
						}
					}
				}
				mk := repo.Name() + "|" + n.digest.String()
				if manIdx[mk] {
					return
				}
				manIdx[mk] = true
				if level < 0 {
					refLevel = append(refLevel, &manifestJob{repo: repo, digest: n.digest, mediaType: n.mediaType, raw: n.raw})
					return
				}
				for len(levels) <= level {
					levels = append(levels, nil)
				}
				levels[level] = append(levels[level], &manifestJob{repo: repo, digest: n.digest, mediaType: n.mediaType, raw: n.raw})
			}
			for _, n := range nodes {
				place(n, n.depth)
			}
			// Referrers go last, once their subjects are in place.
			for _, n := range refNodes {
				place(n, -1)
			}
		}
	}
	p.manifests, p.refManifests = levels, refLevel
	return nil
}

func appendRepo(list []name.Repository, r name.Repository) []name.Repository {
	for _, x := range list {
		if x.Name() == r.Name() {
			return list
		}
	}
	return append(list, r)
}

// walkArtifact lists the manifests of a, children before parents; the last
// node is a itself.
func walkArtifact(a oci.Artifact) ([]node, error) {
	switch {
	case a.Index != nil:
		var out []node
		_, err := walkIndex(a.Index, &out, map[v1.Hash]bool{})
		return out, err
	case a.Image != nil:
		plat := ""
		if a.Platform != nil {
			plat = a.Platform.String()
		}
		n, err := imageNode(a.Image, plat)
		if err != nil {
			return nil, err
		}
		return []node{n}, nil
	}
	return nil, fmt.Errorf("push: empty artifact")
}

func walkIndex(idx v1.ImageIndex, out *[]node, seen map[v1.Hash]bool) (int, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return 0, fmt.Errorf("reading index: %w", err)
	}
	depth := 1
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return 0, fmt.Errorf("reading index %s: %w", short(d.Digest), err)
			}
			cd, err := walkIndex(child, out, seen)
			if err != nil {
				return 0, err
			}
			depth = max(depth, cd+1)
		case d.MediaType.IsImage():
			if seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			img, err := idx.Image(d.Digest)
			if err != nil {
				return 0, fmt.Errorf("reading image %s: %w", short(d.Digest), err)
			}
			plat := ""
			if d.Platform != nil {
				plat = d.Platform.String()
			}
			n, err := imageNode(img, plat)
			if err != nil {
				return 0, err
			}
			*out = append(*out, n)
		default:
			return 0, fmt.Errorf("index child %s: unsupported media type %q", short(d.Digest), d.MediaType)
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return 0, err
	}
	h, err := idx.Digest()
	if err != nil {
		return 0, err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return 0, err
	}
	*out = append(*out, node{digest: h, mediaType: mt, raw: raw, depth: depth})
	return depth, nil
}

// imageNode lists an image's manifest, config and distributable layers.
func imageNode(img v1.Image, plat string) (node, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return node{}, fmt.Errorf("reading manifest: %w", err)
	}
	h, err := img.Digest()
	if err != nil {
		return node{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return node{}, err
	}
	n := node{digest: h, mediaType: mt, raw: raw, platform: plat}
	m, err := img.Manifest()
	if err != nil {
		return node{}, fmt.Errorf("reading manifest: %w", err)
	}
	if plat == "" {
		if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
			plat = (&v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}).String()
			n.platform = plat
		}
	}
	// The config is read only if it is uploaded (an image a registry
	// cache hit names is not, and its config is not fetched for nothing).
	n.blobs = append(n.blobs, blobSource{digest: m.Config.Digest, size: m.Config.Size, own: m.Config.Size <= monolithicMax, open: func(context.Context) (io.ReadCloser, error) {
		cfgRaw, err := img.RawConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		return io.NopCloser(bytes.NewReader(cfgRaw)), nil
	}})
	layers, err := img.Layers()
	if err != nil {
		return node{}, fmt.Errorf("reading layers: %w", err)
	}
	for _, l := range layers {
		lmt, err := l.MediaType()
		if err != nil {
			return node{}, err
		}
		if !lmt.IsDistributable() {
			continue
		}
		d, err := l.Digest()
		if err != nil {
			return node{}, err
		}
		sz, err := l.Size()
		if err != nil {
			return node{}, err
		}
		n.blobs = append(n.blobs, blobSource{digest: d, size: sz, open: func(ctx context.Context) (io.ReadCloser, error) { return ctxio.Compressed(ctx, l) }})
	}
	return n, nil
}
