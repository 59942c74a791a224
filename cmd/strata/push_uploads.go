package main

import (
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/compose/registry"
)

// uploadCounter attributes uploaded blob bytes to images (the per-image
// bytesUploaded of push --json) from the push's progress events.
type uploadCounter struct {
	mu   sync.Mutex
	sent map[string]int64 // repository|digest → bytes uploaded
}

// wrap returns next with the counting added.
func (u *uploadCounter) wrap(next func(registry.PushEvent)) func(registry.PushEvent) {
	return func(e registry.PushEvent) {
		if e.Kind == "blob" && e.Status == "uploaded" {
			u.mu.Lock()
			if u.sent == nil {
				u.sent = map[string]int64{}
			}
			u.sent[e.Repo+"|"+e.Digest] += e.Size
			u.mu.Unlock()
		}
		next(e)
	}
}

// take returns, and forgets, the bytes uploaded for req's blobs to its
// tags' repositories.
func (u *uploadCounter) take(req registry.PushRequest) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.sent) == 0 {
		return 0, nil
	}
	blobs, err := artifactBlobs(req.Artifact)
	if err != nil {
		return 0, err
	}
	var n int64
	seen := map[string]bool{}
	for _, t := range req.Tags {
		repo := t.Context().Name()
		if seen[repo] {
			continue
		}
		seen[repo] = true
		for _, d := range blobs {
			k := repo + "|" + d.String()
			n += u.sent[k]
			delete(u.sent, k)
		}
	}
	return n, nil
}

// artifactBlobs lists the config and layer digests of an image, or of
// every image of an index.
func artifactBlobs(a oci.Artifact) ([]v1.Hash, error) {
	ms, err := a.Manifests()
	if err != nil {
		return nil, err
	}
	var out []v1.Hash
	for _, m := range ms {
		out = append(out, m.Config.Digest)
		for _, l := range m.Layers {
			out = append(out, l.Digest)
		}
	}
	return out, nil
}
