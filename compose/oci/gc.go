package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LayoutImage is one entry of an OCI layout's index.json.
type LayoutImage struct {
	// RefName is the entry's org.opencontainers.image.ref.name ("" if none).
	RefName   string
	Digest    v1.Hash
	MediaType string
	// Size is the bytes of every blob the entry reaches (manifests,
	// configs, layers), each counted once; blobs shared with other entries
	// included.
	Size int64
	// Written is when the entry's manifest was last written to the layout
	// (WriteLayout refreshes it when it writes the same image again).
	Written time.Time
}

// LayoutImages lists the entries of the OCI layout dir in index.json order.
func LayoutImages(dir string) ([]LayoutImage, error) {
	im, err := readIndexJSON(dir)
	if err != nil {
		return nil, err
	}
	out := make([]LayoutImage, 0, len(im.Manifests))
	for _, d := range im.Manifests {
		li := LayoutImage{RefName: d.Annotations[RefNameAnnotation], Digest: d.Digest, MediaType: string(d.MediaType)}
		reach := map[v1.Hash]int64{}
		reachable(dir, d, reach)
		for _, n := range reach {
			li.Size += n
		}
		if fi, err := os.Stat(blobPath(dir, d.Digest)); err == nil {
			li.Written = fi.ModTime()
		}
		out = append(out, li)
	}
	return out, nil
}

// RemoveRefs removes the entries named refNames from the index.json of the
// OCI layout dir (one atomic rename, under the layout's lock), then the
// blobs no remaining entry reaches. It returns the bytes of blobs removed.
// Callers must make sure no other writer is adding to the layout: a blob
// written but not yet in index.json looks unreferenced.
func RemoveRefs(dir string, refNames []string) (int64, error) {
	unlock, err := lockDir(dir)
	if err != nil {
		return 0, fmt.Errorf("locking %s: %w", dir, err)
	}
	defer unlock()
	im, err := readIndexJSON(dir)
	if err != nil {
		return 0, err
	}
	kept := im.Manifests[:0]
	for _, d := range im.Manifests {
		if !slices.Contains(refNames, d.Annotations[RefNameAnnotation]) {
			kept = append(kept, d)
		}
	}
	im.Manifests = kept
	if err := writeIndexJSON(dir, im, WriteOptions{}); err != nil {
		return 0, fmt.Errorf("writing %s: %w", filepath.Join(dir, "index.json"), err)
	}
	reach := map[v1.Hash]int64{}
	for _, d := range im.Manifests {
		reachable(dir, d, reach)
	}
	var freed int64
	blobs := filepath.Join(dir, "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	for _, e := range ents {
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		if _, ok := reach[h]; ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(blobs, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return freed, err
		}
		freed += fi.Size()
	}
	return freed, nil
}

// touchManifest marks the manifest of d as written now (see
// LayoutImage.Written); it is best effort.
func touchManifest(dir string, d v1.Hash) {
	now := time.Now()
	_ = os.Chtimes(blobPath(dir, d), now, now)
}

func blobPath(dir string, h v1.Hash) string {
	return filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
}

// readIndexJSON parses dir/index.json.
func readIndexJSON(dir string) (*v1.IndexManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	im := &v1.IndexManifest{}
	if err := json.Unmarshal(b, im); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(dir, "index.json"), err)
	}
	return im, nil
}

// reachable adds d and every blob it references (recursively, for
// manifests and indexes present in the layout) to reach, with their sizes
// on disk. Missing blobs (such as non-distributable layers) are skipped.
func reachable(dir string, d v1.Descriptor, reach map[v1.Hash]int64) {
	if _, seen := reach[d.Digest]; seen {
		return
	}
	fi, err := os.Stat(blobPath(dir, d.Digest))
	if err != nil {
		return
	}
	reach[d.Digest] = fi.Size()
	if !d.MediaType.IsIndex() && !d.MediaType.IsImage() {
		return
	}
	b, err := os.ReadFile(blobPath(dir, d.Digest))
	if err != nil {
		return
	}
	var m struct {
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(b, &m) != nil {
		return
	}
	if m.Config != nil {
		reachable(dir, *m.Config, reach)
	}
	for _, c := range append(m.Layers, m.Manifests...) {
		reachable(dir, c, reach)
	}
}
