package compose

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/spec"
)

// LayoutRef is the first of LayoutRefs: the ref name an OCI layout of one
// spec is best known by.
func LayoutRef(s *spec.Spec) string { return LayoutRefs(s)[0] }

// LayoutRefs are the ref names an OCI layout of one spec records the image
// under: each of the spec's tags (the tag part of a full reference), without
// duplicates, else "latest".
func LayoutRefs(s *spec.Spec) []string {
	var out []string
	for _, t := range s.Tags {
		if spec.IsFullReference(t) {
			if tag, err := name.NewTag(t); err == nil {
				t = tag.TagStr()
			}
		}
		out = appendNew(out, t)
	}
	if len(out) == 0 {
		return []string{"latest"}
	}
	return out
}

// StoreRef is the first of StoreRefs.
func StoreRef(s *spec.Spec) string { return StoreRefs(s)[0] }

// StoreRefs are the ref names in a layout shared by many specs (the local
// store, or one --oci directory for several specs): each tag as a full
// reference when the spec names a repository (image: or a full tag), else
// as LayoutRefs; "latest" (in the image's repository) when there are none.
func StoreRefs(s *spec.Spec) []string {
	tags := s.Tags
	if len(tags) == 0 {
		tags = []string{"latest"}
	}
	var out []string
	for _, tag := range tags {
		switch {
		case spec.IsFullReference(tag):
		case s.Image != "":
			tag = s.Image + ":" + tag
		}
		out = appendNew(out, tag)
	}
	return out
}

// appendNew appends s to list unless list holds it.
func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// TarballRefs are the repo:tag names a docker tarball records: full tags as
// written, bare tags in the spec's image repository (skipped without one).
func TarballRefs(s *spec.Spec) ([]name.Tag, error) {
	var out []name.Tag
	for _, t := range s.Tags {
		full := t
		if !spec.IsFullReference(t) {
			if s.Image == "" {
				continue
			}
			full = s.Image + ":" + t
		}
		tag, err := name.NewTag(full)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w", t, err)
		}
		out = append(out, tag)
	}
	return out, nil
}

// PushTags returns the tags a push of r goes to (spec.ResolveTags): the
// spec's tags, then extra, then the semver fan-out, bare tags in image's
// repository (the spec's image when image is ""). opts are passed to
// package name (e.g. name.Insecure).
func (r *Result) PushTags(image string, extra []string, opts ...name.Option) ([]name.Tag, error) {
	if image == "" {
		image = r.Spec.Image
	}
	return spec.ResolveTags(image, append(append([]string{}, r.Spec.Tags...), extra...), r.Spec.Semver, opts...)
}

// MountFrom lists the repositories a push of r may mount blobs from: the
// base's registry repository, if it has one.
func (r *Result) MountFrom() []name.Repository {
	if r.BaseRepo == nil {
		return nil
	}
	return []name.Repository{*r.BaseRepo}
}

// archiveAsIs returns, for a spec whose base is a docker archive and that
// adds nothing (no layers, config, annotations or platforms), the archive's
// own image, unchanged; ok is false for any other spec (see
// WithArchiveAsIs). A relative archive path is taken from the spec file's
// directory.
func archiveAsIs(ctx context.Context, s *spec.Spec, cacheDir string) (res *Result, ok bool, err error) {
	file, isArchive := strings.CutPrefix(s.Base, spec.ArchivePrefix)
	if !isArchive || len(s.Layers) > 0 || len(s.Annotations) > 0 || len(s.Platforms) > 0 || !reflect.ValueOf(s.Config).IsZero() {
		return nil, false, nil
	}
	if src := s.Source(); src != nil && !filepath.IsAbs(file) {
		file = filepath.Join(src.Dir, file)
	}
	if _, err := spec.ParseLocation(spec.ArchivePrefix + file); err != nil {
		return nil, false, nil
	}
	img, err := oci.ReadArchive(ctx, file, cacheDir)
	if err != nil {
		return nil, true, fmt.Errorf("reading %s%s: %w", spec.ArchivePrefix, file, err)
	}
	res = &Result{Spec: s, Artifact: oci.Artifact{Image: img}}
	if res.Digest, err = img.Digest(); err != nil {
		return nil, true, fmt.Errorf("reading %s%s: %w", spec.ArchivePrefix, file, err)
	}
	return res, true, nil
}

// Targets says where a command writes its results.
type Targets struct {
	// LayoutDir is an OCI layout every image goes to ("" for none).
	LayoutDir string
	// Shared says the layout holds images of many specs and commands (the
	// local store): images are named repo:tag there (StoreRefs) even when
	// one spec is written.
	Shared bool
	// TarballPath is a docker tarball; it holds one image.
	TarballPath string
	// Jobs is how many blobs are written at once; 0 means 4.
	Jobs int
}

// OutputConflictError reports two images that would get one name in one
// layout, so that the second would replace the first.
type OutputConflictError struct {
	First, Second string // the names of the two results (their spec paths)
	Ref, Dir      string
}

func (e *OutputConflictError) Error() string {
	return fmt.Sprintf("%s and %s would both be written as %q in %s; give them different tags or image repositories", e.First, e.Second, e.Ref, e.Dir)
}

// OutputsFor names the outputs of results (named by names, e.g. their spec
// paths) written to t. In a layout of its own one image is recorded under
// each of its spec's tags (LayoutRefs); in a layout several results share,
// or a Shared one, under repo:tag names (StoreRefs). Two images that would
// get one name in one layout are refused with an *OutputConflictError
// before anything is written.
func OutputsFor(results []*Result, names []string, t Targets) ([]Outputs, error) {
	outs := make([]Outputs, len(results))
	seen := map[string]string{}
	for i, res := range results {
		o := Outputs{LayoutDir: t.LayoutDir, Jobs: t.Jobs}
		if t.Shared || len(results) > 1 {
			o.LayoutRefs = StoreRefs(res.Spec)
		} else {
			o.LayoutRefs = LayoutRefs(res.Spec)
		}
		if t.TarballPath != "" {
			o.TarballPath = t.TarballPath
			var err error
			if o.TarballRefs, err = TarballRefs(res.Spec); err != nil {
				return nil, err
			}
		}
		for _, ref := range o.LayoutRefs {
			if o.LayoutDir == "" {
				break
			}
			key := o.LayoutDir + "\x00" + ref
			if prev, ok := seen[key]; ok {
				return nil, &OutputConflictError{First: prev, Second: names[i], Ref: ref, Dir: o.LayoutDir}
			}
			seen[key] = names[i]
		}
		outs[i] = o
	}
	return outs, nil
}

// BaseLayers lists the digests of the layers r's images take from their
// base: every layer of each image but those strata added (a push may mount
// them from MountFrom; registry.PushRequest.Lent).
func (r *Result) BaseLayers() ([]v1.Hash, error) {
	added := map[v1.Hash]bool{}
	for _, p := range r.Platforms {
		for _, l := range p.Layers {
			added[l.Digest] = true
		}
	}
	ms, err := r.Artifact.Manifests()
	if err != nil {
		return nil, err
	}
	var out []v1.Hash
	for _, m := range ms {
		for _, l := range m.Layers {
			if !added[l.Digest] && !slices.Contains(out, l.Digest) {
				out = append(out, l.Digest)
			}
		}
	}
	return out, nil
}
