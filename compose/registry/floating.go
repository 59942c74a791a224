package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/mod/semver"

	"github.com/strata-build/strata/spec"
)

// floatingTags returns the floating tags a release version fans out to
// (spec.SemverTags without the version itself: "2.1" and "2" for 2.1.0),
// mapped to the part of the version they follow ("v2.1", "v2"); none for
// a prerelease or "".
func floatingTags(version string) map[string]string {
	fan, err := spec.SemverTags(version)
	if err != nil || len(fan) < 3 {
		return nil
	}
	v := canonical(version)
	return map[string]string{fan[1]: semver.MajorMinor(v), fan[2]: semver.Major(v)}
}

// canonical is a release tag as a canonical semver ("2.1.0" → "v2.1.0");
// "" for anything that is not a full MAJOR.MINOR.PATCH release.
func canonical(t string) string {
	v := t
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) || semver.Prerelease(v) != "" || semver.Build(v) != "" ||
		strings.Count(v, ".") != 2 {
		return ""
	}
	return semver.Canonical(v)
}

// higherRelease returns the highest release among tags that is in line (a
// "v2" or "v2.1" prefix of canonical versions) and above version, or ""
// when version is the highest of its line.
func higherRelease(tags []string, line, version string) string {
	v := canonical(version)
	best, bestTag := v, ""
	for _, t := range tags {
		c := canonical(t)
		if c == "" || (semver.Major(c) != line && semver.MajorMinor(c) != line) {
			continue
		}
		if semver.Compare(c, best) > 0 {
			best, bestTag = c, t
		}
	}
	return bestTag
}

// holdFloating decides, before any tag is pushed, which floating tags of
// each artifact's version stay where they are because the repository holds
// a higher release of their line. Each repository's tag list is read once.
func (p *pusher) holdFloating(ctx context.Context) error {
	if p.opts.ForceFloating {
		return nil
	}
	lists := map[string][]string{}
	for _, a := range p.arts {
		floating := floatingTags(a.version)
		for _, tag := range a.tags {
			line, ok := floating[tag.TagStr()]
			if !ok {
				continue
			}
			repo := tag.Context()
			tags, read := lists[repo.Name()]
			if !read {
				var err error
				if err = p.withSlot(ctx, func() (err error) { tags, err = p.listTags(ctx, repo); return err }); err != nil {
					return err
				}
				lists[repo.Name()] = tags
			}
			if higher := higherRelease(tags, line, a.version); higher != "" {
				if a.heldBy == nil {
					a.heldBy = map[string]string{}
				}
				a.heldBy[tag.Name()] = higher
			}
		}
	}
	return nil
}

// listTags reads repo's tag list; a repository that does not exist yet has
// no tags.
func (p *pusher) listTags(ctx context.Context, repo name.Repository) ([]string, error) {
	ropts, err := remoteOptions(ctx, p.opts.Transport)
	if err != nil {
		return nil, err
	}
	tags, err := listOrEmpty(repo, ropts)
	if err != nil {
		return nil, fmt.Errorf("%s: listing tags to place floating tags: %w", repo.Name(), err)
	}
	return tags, nil
}

// listOrEmpty lists repo's tags; a repository the registry does not know
// (404) has none.
func listOrEmpty(repo name.Repository, ropts []remote.Option) ([]string, error) {
	tags, err := remote.List(repo, ropts...)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	return tags, err
}
