package main

import (
	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/registry"
)

// pushedLayer is the --json shape of one layer strata added to a pushed
// image: how the build got it and what the push did with it.
type pushedLayer struct {
	Platform string `json:"platform"`
	Name     string `json:"name"`
	Digest   string `json:"digest"`
	Size     int64  `json:"size"`
	// Build is "built" (compressed by this run), "cached" (taken from the
	// layer cache) or "registry" (a layer the repository holds, named by
	// the registry cache's records: nothing compressed).
	Build string `json:"build"`
	// Push is "uploaded" when any destination repository received its
	// bytes, else "mounted" when any mounted it, else "skipped" (every
	// destination had it).
	Push string `json:"push"`
	// BytesUploaded counts every repository it was uploaded to.
	BytesUploaded int64 `json:"bytesUploaded"`
}

// pushedLayers joins a build result with the push report's blob results.
func pushedLayers(res *compose.Result, blobs []registry.BlobResult) []pushedLayer {
	byDigest := map[string][]registry.BlobResult{}
	for _, b := range blobs {
		byDigest[b.Digest] = append(byDigest[b.Digest], b)
	}
	out := []pushedLayer{}
	for _, p := range res.Platforms {
		for _, l := range p.Layers {
			pl := pushedLayer{Platform: p.Platform.String(), Name: l.Name, Digest: l.Digest.String(), Size: l.Size, Build: "built", Push: "skipped"}
			switch {
			case l.Registry:
				pl.Build = "registry"
			case l.Cached:
				pl.Build = "cached"
			}
			for _, b := range byDigest[pl.Digest] {
				pl.BytesUploaded += b.BytesUploaded
				switch {
				case b.Status == "uploaded":
					pl.Push = "uploaded"
				case b.Status == "mounted" && pl.Push == "skipped":
					pl.Push = "mounted"
				}
			}
			out = append(out, pl)
		}
	}
	return out
}
