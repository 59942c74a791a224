package spec

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/mod/semver"
)

// tagPattern is the distribution grammar for a tag.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidTag reports whether t is a tag by the distribution grammar: 1-128
// characters of A-Z a-z 0-9 _ . -, not starting with . or -.
func ValidTag(t string) bool { return tagPattern.MatchString(t) }

// CheckRepositoryPath refuses a repository path (the part of a reference
// after the registry, without tag or digest) holding a "." or ".." component
// or an empty one: a registry or proxy may resolve "team-a/../team-b/app" to
// team-b/app, so the tags would land in another repository than the one
// reported.
func CheckRepositoryPath(repo string) error {
	for _, c := range strings.Split(repo, "/") {
		switch c {
		case ".", "..":
			return fmt.Errorf("repository %q has a %q path component; name the repository without . or .. segments", repo, c)
		case "":
			return fmt.Errorf("repository %q has an empty path component", repo)
		}
	}
	return nil
}

// IsFullReference reports whether an entry of a spec's tags is a full
// reference (it holds "/", ":" or "@") rather than a bare tag of the spec's
// image repository.
func IsFullReference(t string) bool { return strings.ContainsAny(t, "/:@") }

// ResolveTags turns a spec's image, tags and semver fields into the list of
// destination tags, without duplicates, in this order: the entries of tags,
// then the semver fan-out.
//
// A bare tag ("latest", "1.2") belongs to image, which must then be set. An
// entry containing "/" or ":" is a full reference ("ghcr.io/acme/ui:edge")
// and must name a tag; digests are refused. A non-empty semver must be a full
// MAJOR.MINOR.PATCH version, with or without a leading "v" (kept as written):
// "2.1.106" adds 2.1.106, 2.1 and 2; a prerelease ("2.1.0-rc.1") adds only
// itself, so floating tags never move to a prerelease. Build metadata
// ("+build.5") is dropped, since "+" is not allowed in tags.
//
// opts are passed to package name (e.g. name.Insecure).
func ResolveTags(image string, tags []string, version string, opts ...name.Option) ([]name.Tag, error) {
	var repo *name.Repository
	if image != "" {
		r, err := name.NewRepository(image, opts...)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", image, err)
		}
		if err := CheckRepositoryPath(r.RepositoryStr()); err != nil {
			return nil, fmt.Errorf("image %q: %w", image, err)
		}
		repo = &r
	}
	var out []name.Tag
	seen := map[string]bool{}
	add := func(t name.Tag) {
		if !seen[t.String()] {
			seen[t.String()] = true
			out = append(out, t)
		}
	}
	bare := func(field, tag string) (name.Tag, error) {
		if !ValidTag(tag) {
			return name.Tag{}, fmt.Errorf("%s %q: a tag is 1-128 characters of A-Z a-z 0-9 _ . - and does not start with . or -", field, tag)
		}
		if repo == nil {
			return name.Tag{}, fmt.Errorf("%s %q: a bare tag needs image (the repository it belongs to), or write a full reference such as registry.example/app:%s", field, tag, tag)
		}
		return repo.Tag(tag), nil
	}
	for _, t := range tags {
		if IsFullReference(t) {
			tag, err := fullTag(t, opts...)
			if err != nil {
				return nil, err
			}
			add(tag)
			continue
		}
		tag, err := bare("tag", t)
		if err != nil {
			return nil, err
		}
		add(tag)
	}
	fan, err := SemverTags(version)
	if err != nil {
		return nil, err
	}
	for _, t := range fan {
		tag, err := bare("semver", t)
		if err != nil {
			return nil, err
		}
		add(tag)
	}
	return out, nil
}

// fullTag parses a full reference that must carry an explicit tag.
func fullTag(s string, opts ...name.Option) (name.Tag, error) {
	if strings.Contains(s, "@") {
		return name.Tag{}, fmt.Errorf("tag %q: a destination must be a tag, not a digest", s)
	}
	last := s[strings.LastIndex(s, "/")+1:]
	i := strings.LastIndex(last, ":")
	if i < 0 {
		return name.Tag{}, fmt.Errorf("tag %q: a full reference must end in :TAG", s)
	}
	if !ValidTag(last[i+1:]) {
		return name.Tag{}, fmt.Errorf("tag %q: %q is not a valid tag (1-128 characters of A-Z a-z 0-9 _ . -, not starting with . or -)", s, last[i+1:])
	}
	t, err := name.NewTag(s, opts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("tag %q: %w", s, err)
	}
	if err := CheckRepositoryPath(t.RepositoryStr()); err != nil {
		return name.Tag{}, fmt.Errorf("tag %q: %w", s, err)
	}
	return t, nil
}

// SemverTags returns the tags a semantic version fans out to: "2.1.106" gives
// [2.1.106 2.1 2], "v1.0.0" gives [v1.0.0 v1.0 v1], a prerelease gives only
// itself, and "" gives none. Anything other than a full MAJOR.MINOR.PATCH
// version is an error.
func SemverTags(version string) ([]string, error) {
	if version == "" {
		return nil, nil
	}
	prefix := ""
	v := version
	if strings.HasPrefix(v, "v") {
		prefix = "v"
	} else {
		v = "v" + v
	}
	if !semver.IsValid(v) || strings.Count(strings.SplitN(strings.SplitN(v, "-", 2)[0], "+", 2)[0], ".") != 2 {
		return nil, fmt.Errorf("semver %q: want a full version MAJOR.MINOR.PATCH such as 2.1.106 (optionally -PRERELEASE)", version)
	}
	full := strings.TrimPrefix(semver.Canonical(v), "v") // drops +build
	if semver.Prerelease(v) != "" {
		return []string{prefix + full}, nil
	}
	mm := strings.TrimPrefix(semver.MajorMinor(v), "v")
	major := strings.TrimPrefix(semver.Major(v), "v")
	return []string{prefix + full, prefix + mm, prefix + major}, nil
}
