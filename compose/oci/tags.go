package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/strata-build/strata/spec"
)

// Tags returns the names images have in a local image location, sorted and
// without duplicates: the ref names of an OCI layout's index.json (the
// layout l.Dir names; a tag or digest in l is ignored), or the RepoTags of
// a docker archive. cacheDir holds the decompressed copy of a gzip archive.
func Tags(ctx context.Context, l spec.Location, cacheDir string) ([]string, error) {
	var tags []string
	switch l.Kind {
	case spec.LocationLayout:
		dir := l.Dir
		if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
			// oci:DIR:tag where DIR holds ":" (see ReadLayout).
			if l = SplitLayoutRef(l); l.Dir != dir {
				dir = l.Dir
			} else if l.Tag != "" {
				dir = l.Dir + ":" + l.Tag
			}
		}
		idx, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			return nil, fmt.Errorf("reading layout %s: %w", dir, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading layout %s: %w", dir, err)
		}
		for _, d := range im.Manifests {
			if t, ok := d.Annotations[RefNameAnnotation]; ok {
				tags = append(tags, t)
			}
		}
	case spec.LocationArchive:
		path, err := ArchiveTar(ctx, l.File, cacheDir)
		if err != nil {
			return nil, fmt.Errorf("reading archive %s: %w", l.File, err)
		}
		m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
		if err != nil {
			return nil, fmt.Errorf("reading archive %s: %w", l.File, err)
		}
		for _, d := range m {
			tags = append(tags, d.RepoTags...)
		}
	default:
		return nil, errors.New("not a local image location (oci: or docker-archive:)")
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}
