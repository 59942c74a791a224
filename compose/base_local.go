package compose

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/strata-build/strata/spec"
)

// refNameAnnotation names an image in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// resolveLayout reads a base from an OCI image layout. The image is picked by
// its ref name (tag), by digest, or is the layout's only image or index.
// splitLayoutRef handles ref names that contain "/" and ":" (strata names
// images repo:tag when several specs share a layout, e.g.
// oci:DIR:registry.example/app:v1): parseBase splits at the last ":" after
// the last "/", which then lies inside the ref name. When b.dir is not a
// layout, the first split whose directory part is one wins.
func (b baseRef) splitLayoutRef() baseRef {
	if b.kind != baseLayout || b.dgst != (v1.Hash{}) || b.tag == "" {
		return b
	}
	if _, err := os.Stat(filepath.Join(b.dir, "index.json")); err == nil {
		return b
	}
	rest := b.dir + ":" + b.tag
	for i := strings.IndexByte(rest, ':'); i >= 0 && i < len(rest)-1; {
		if _, err := os.Stat(filepath.Join(rest[:i], "index.json")); err == nil {
			b.dir, b.tag = rest[:i], rest[i+1:]
			return b
		}
		j := strings.IndexByte(rest[i+1:], ':')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return b
}

func resolveLayout(b baseRef, want []spec.Platform) (*resolvedBase, error) {
	b = b.splitLayoutRef()
	if _, err := os.Stat(filepath.Join(b.dir, "index.json")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("oci layout %s: no index.json (not an OCI image layout)", b.dir)
		}
		return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
	}
	idx, err := layout.ImageIndexFromPath(b.dir)
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: reading index.json: %w", b.dir, err)
	}
	d, err := pickLayoutEntry(im.Manifests, b)
	if err != nil {
		return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
	}
	var plats []platformBase
	if d.MediaType.IsIndex() {
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
		}
		plats, err = narrowIndex(child, want)
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
		}
	} else {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
		}
		plats, err = narrowImage(img, want)
		if err != nil {
			return nil, fmt.Errorf("oci layout %s: %w", b.dir, err)
		}
	}
	return &resolvedBase{Platforms: plats}, nil
}

// pickLayoutEntry finds the index.json entry b names.
func pickLayoutEntry(ds []v1.Descriptor, b baseRef) (v1.Descriptor, error) {
	switch {
	case b.dgst.Hex != "":
		for _, d := range ds {
			if d.Digest == b.dgst {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("no image with digest %s in index.json", b.dgst)
	case b.tag != "":
		var found []v1.Descriptor
		for _, d := range ds {
			if d.Annotations[refNameAnnotation] == b.tag {
				found = append(found, d)
			}
		}
		switch {
		case len(found) == 0:
			return v1.Descriptor{}, fmt.Errorf("no image tagged %q (tags: %s)", b.tag, layoutTags(ds))
		case len(found) > 1 && found[0].Digest != found[1].Digest:
			return v1.Descriptor{}, fmt.Errorf("tag %q names %d different images", b.tag, len(found))
		}
		return found[0], nil
	}
	switch len(ds) {
	case 1:
		return ds[0], nil
	case 0:
		return v1.Descriptor{}, errors.New("index.json lists no images")
	}
	return v1.Descriptor{}, fmt.Errorf("index.json lists %d images; name one with oci:DIR:tag or oci:DIR@digest (tags: %s)", len(ds), layoutTags(ds))
}

// layoutTags lists the ref names in ds, sorted, for messages.
func layoutTags(ds []v1.Descriptor) string {
	var tags []string
	for _, d := range ds {
		if t, ok := d.Annotations[refNameAnnotation]; ok {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return "none"
	}
	sort.Strings(tags)
	return strings.Join(tags, ", ")
}
