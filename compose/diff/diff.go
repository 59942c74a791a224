// Package diff explains why two images differ: platform by platform, the
// config field by field, the layers (which are identical by digest, which
// differ) and, inside each differing layer, the entries added, removed or
// changed (content sha256, mode, owner, link target, type, mtime), whiteouts
// shown as deletions.
//
// Images are compared as artifacts (oci.Artifact); where they come from (a
// registry, an OCI layout, a docker archive, a spec just built) is the
// caller's business. Layers are read streaming, one tar entry at a time:
// memory grows with the number of entries of a layer, never with its size.
//
// It imports compose/oci (the artifact type) and nothing else of strata's.
package diff

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/oci"
)

// Report is the comparison of two images A and B.
type Report struct {
	// Same is true when A and B have the same manifest (or index) digest.
	Same bool `json:"same"`
	// A and B are the manifest or index digests compared.
	A string `json:"a"`
	B string `json:"b"`
	// Platforms compares, for each platform in both, the two images (only
	// those whose digests differ are listed).
	Platforms []Platform `json:"platforms,omitempty"`
	// OnlyA and OnlyB list platforms present on one side only.
	OnlyA []string `json:"onlyA,omitempty"`
	OnlyB []string `json:"onlyB,omitempty"`
}

// Platform is the comparison of one platform's two images.
type Platform struct {
	Platform string `json:"platform"`
	A        string `json:"a"`
	B        string `json:"b"`
	// Config lists the config fields that differ.
	Config []ConfigChange `json:"config,omitempty"`
	// Annotations lists the manifest annotations that differ, as
	// "annotations.KEY" fields.
	Annotations []ConfigChange `json:"annotations,omitempty"`
	// Layers compares the layers position by position, in image order.
	Layers []Layer `json:"layers"`
}

// Layer statuses.
const (
	LayerSame    = "same"    // equal digests
	LayerChanged = "changed" // both sides have a layer here, with different content
	LayerAdded   = "added"   // only B has a layer at this position
	LayerRemoved = "removed" // only A has a layer at this position
	// LayerRecompressed: equal uncompressed content (diffID), different blob.
	LayerRecompressed = "recompressed"
)

// Layer is the comparison of the layers at one position of the two images.
type Layer struct {
	// Index is the layer's position in the image, from 1.
	Index int `json:"index"`
	// Name is the layer's name from the image history (a strata layer's
	// name, or the command that created it); "" when unknown.
	Name    string   `json:"name,omitempty"`
	Status  string   `json:"status"`
	A       string   `json:"a,omitempty"` // compressed digest in A
	B       string   `json:"b,omitempty"` // compressed digest in B
	Changes []Change `json:"changes,omitempty"`
}

// Change kinds.
const (
	Added     = "added"     // the path is only in B's layer
	Removed   = "removed"   // the path is only in A's layer
	Changed   = "changed"   // the path is in both, with different Fields
	Deleted   = "deleted"   // B's layer deletes the path (a whiteout) and A's does not
	Undeleted = "undeleted" // A's layer deletes the path (a whiteout) and B's does not
	Cleared   = "cleared"   // B's layer hides the directory's lower contents (opaque whiteout)
	Uncleared = "uncleared" // A's layer does, B's does not
)

// Change is one path that differs between two layers.
type Change struct {
	Path string `json:"path"`
	Kind string `json:"kind"`
	// Fields lists what differs for a changed path: content (the sha256 of
	// the file's bytes), size, mode, owner, link, type, mtime.
	Fields []FieldChange `json:"fields,omitempty"`
}

// FieldChange is one attribute of an entry that differs.
type FieldChange struct {
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

// Images compares the images (or indexes) a and b. An index is compared
// platform by platform, matching children by platform; a single image is
// matched to the platform of its config. Only platforms whose images differ
// are reported.
func Images(ctx context.Context, a, b oci.Artifact) (*Report, error) {
	da, err := a.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading the digest of A: %w", err)
	}
	db, err := b.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading the digest of B: %w", err)
	}
	r := &Report{Same: da == db, A: da.String(), B: db.String()}
	if r.Same {
		return r, nil
	}
	pa, err := platforms(a)
	if err != nil {
		return nil, fmt.Errorf("reading A: %w", err)
	}
	pb, err := platforms(b)
	if err != nil {
		return nil, fmt.Errorf("reading B: %w", err)
	}
	// A single image on each side is compared whatever its platform.
	if len(pa) == 1 && len(pb) == 1 {
		pb[0].name = pa[0].name
	}
	inB := map[string]v1.Image{}
	for _, p := range pb {
		inB[p.name] = p.img
	}
	for _, p := range pa {
		bi, ok := inB[p.name]
		if !ok {
			r.OnlyA = append(r.OnlyA, p.name)
			continue
		}
		delete(inB, p.name)
		pr, err := comparePlatform(ctx, p.name, p.img, bi)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", p.name, err)
		}
		if pr != nil {
			r.Platforms = append(r.Platforms, *pr)
		}
	}
	for _, p := range pb {
		if _, ok := inB[p.name]; ok {
			r.OnlyB = append(r.OnlyB, p.name)
		}
	}
	return r, nil
}

// platformImage is one platform's image of an artifact.
type platformImage struct {
	name string
	img  v1.Image
}

// platforms lists the platform images of a, in order.
func platforms(a oci.Artifact) ([]platformImage, error) {
	if a.Image != nil {
		cf, err := a.Image.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		return []platformImage{{platformName(cf.OS, cf.Architecture, cf.Variant), a.Image}}, nil
	}
	im, err := a.Index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	var out []platformImage
	for _, d := range im.Manifests {
		if !oci.IsPlatformImage(d) || !d.MediaType.IsImage() {
			continue
		}
		img, err := a.Index.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
		}
		out = append(out, platformImage{platformName(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant), img})
	}
	return out, nil
}

func platformName(os, arch, variant string) string {
	s := os + "/" + arch
	if variant != "" {
		s += "/" + variant
	}
	return s
}

// comparePlatform compares two images of one platform; nil when they are
// the same image.
func comparePlatform(ctx context.Context, plat string, a, b v1.Image) (*Platform, error) {
	da, err := a.Digest()
	if err != nil {
		return nil, err
	}
	db, err := b.Digest()
	if err != nil {
		return nil, err
	}
	if da == db {
		return nil, nil
	}
	p := &Platform{Platform: plat, A: da.String(), B: db.String()}
	ca, err := a.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of A: %w", err)
	}
	cb, err := b.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of B: %w", err)
	}
	p.Config = Config(ca, cb)
	ma, err := a.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest of A: %w", err)
	}
	mb, err := b.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest of B: %w", err)
	}
	for _, k := range unionKeys(ma.Annotations, mb.Annotations) {
		if x, y := valueOf(ma.Annotations, k), valueOf(mb.Annotations, k); x != y {
			p.Annotations = append(p.Annotations, ConfigChange{Field: "annotations." + k, Base: x, New: y})
		}
	}
	la, err := a.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers of A: %w", err)
	}
	lb, err := b.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers of B: %w", err)
	}
	na, nb := layerNames(ca), layerNames(cb)
	for i := 0; i < max(len(la), len(lb)); i++ {
		var x, y v1.Layer
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		l, err := compareLayer(ctx, x, y)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		l.Index = i + 1
		switch {
		case i < len(nb) && y != nil:
			l.Name = nb[i]
		case i < len(na):
			l.Name = na[i]
		}
		p.Layers = append(p.Layers, *l)
	}
	return p, nil
}

// layerNames returns a name for each non-empty layer from the history: a
// strata layer's name, else the command that created it, shortened.
func layerNames(cf *v1.ConfigFile) []string {
	var out []string
	for _, h := range cf.History {
		if h.EmptyLayer {
			continue
		}
		n := h.CreatedBy
		if s, ok := strings.CutPrefix(n, "strata: layer "); ok {
			n = s
		} else if h.Comment != "" {
			n = h.Comment
		}
		if len(n) > 60 {
			n = n[:57] + "..."
		}
		out = append(out, n)
	}
	return out
}

// layerDigests returns a layer's compressed digest and diffID.
func layerDigests(l v1.Layer) (v1.Hash, v1.Hash, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Hash{}, v1.Hash{}, err
	}
	id, err := l.DiffID()
	if err != nil {
		return v1.Hash{}, v1.Hash{}, err
	}
	return d, id, nil
}
