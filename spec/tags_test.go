package spec

import (
	"slices"
	"strings"
	"testing"
)

func TestSemverTags(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "2.1.106", want: []string{"2.1.106", "2.1", "2"}},
		{in: "v1.0.0", want: []string{"v1.0.0", "v1.0", "v1"}},
		{in: "0.0.1", want: []string{"0.0.1", "0.0", "0"}},
		{in: "3.1.0+meta.5", want: []string{"3.1.0", "3.1", "3"}},
		{in: "2.0.0-rc.1", want: []string{"2.0.0-rc.1"}},
		{in: "v2.0.0-beta", want: []string{"v2.0.0-beta"}},
		{in: "1.4", err: `semver "1.4": want a full version MAJOR.MINOR.PATCH`},
		{in: "1", err: `semver "1": want a full version`},
		{in: "nightly", err: `semver "nightly": want a full version`},
		{in: "01.2.3", err: `semver "01.2.3": want a full version`},
		{in: "1.2.3.4", err: `semver "1.2.3.4": want a full version`},
	} {
		got, err := SemverTags(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("SemverTags(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("SemverTags(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestResolveTags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		image  string
		tags   []string
		semver string
		want   []string
		err    string
	}{
		{
			name:  "bare tags and fan-out",
			image: "registry.local:5000/gallery/ui",
			tags:  []string{"latest", "2.1.106"}, semver: "2.1.106",
			want: []string{
				"registry.local:5000/gallery/ui:latest",
				"registry.local:5000/gallery/ui:2.1.106",
				"registry.local:5000/gallery/ui:2.1",
				"registry.local:5000/gallery/ui:2",
			},
		},
		{
			name:  "full references to other registries",
			image: "127.0.0.1:5000/app",
			tags:  []string{"edge", "ghcr.io/acme/ui:edge", "127.0.0.1:5000/other:v1"},
			want:  []string{"127.0.0.1:5000/app:edge", "ghcr.io/acme/ui:edge", "127.0.0.1:5000/other:v1"},
		},
		{
			name: "docker hub short name",
			tags: []string{"acme/ui:1"},
			want: []string{"index.docker.io/acme/ui:1"},
		},
		{name: "prerelease only tags itself", image: "r.example/a", semver: "1.0.0-rc.2", want: []string{"r.example/a:1.0.0-rc.2"}},
		{name: "no tags", image: "r.example/a", want: nil},
		{name: "bare tag without image", tags: []string{"latest"}, err: `tag "latest": a bare tag needs image`},
		{name: "semver without image", semver: "1.2.3", err: `semver "1.2.3": a bare tag needs image`},
		{name: "bad bare tag", image: "r.example/a", tags: []string{".hidden"}, err: `tag ".hidden": a tag is 1-128 characters`},
		{name: "too long", image: "r.example/a", tags: []string{strings.Repeat("a", 129)}, err: `a tag is 1-128 characters`},
		{name: "full ref without tag", tags: []string{"ghcr.io/acme/ui"}, err: `tag "ghcr.io/acme/ui": a full reference must end in :TAG`},
		{name: "port is not a tag", tags: []string{"localhost:5000/ui"}, err: `a full reference must end in :TAG`},
		{name: "digest refused", tags: []string{"ghcr.io/acme/ui@sha256:" + strings.Repeat("a", 64)}, err: "must be a tag, not a digest"},
		{name: "upper-case repo", tags: []string{"ghcr.io/Acme/ui:1"}, err: `tag "ghcr.io/Acme/ui:1"`},
		{name: "bad image", image: "UPPER/x", tags: []string{"a"}, err: `image "UPPER/x"`},
		{name: "bad semver", image: "r.example/a", semver: "1.x", err: `semver "1.x"`},
		// issue 13: a registry may resolve dot segments, so the tags would
		// land in another repository than the one reported.
		{name: "dot-dot in image", image: "127.0.0.1:5000/team-a/../team-b/app", tags: []string{"v1"},
			err: `image "127.0.0.1:5000/team-a/../team-b/app": repository "team-a/../team-b/app" has a ".." path component; name the repository without . or .. segments`},
		{name: "dot in image", image: "r.example/./app", tags: []string{"v1"}, err: `repository "./app" has a "." path component`},
		{name: "dot-dot in full tag", tags: []string{"r.example/a/../b:v1"}, err: `tag "r.example/a/../b:v1": repository "a/../b" has a ".." path component`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveTags(tc.image, tc.tags, tc.semver)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, g := range got {
				s = append(s, g.Name())
			}
			if !slices.Equal(s, tc.want) {
				t.Fatalf("got %q, want %q", s, tc.want)
			}
		})
	}
}

// TestValidateSemver checks that Validate accepts exactly the semver values
// push can fan out: a full MAJOR.MINOR.PATCH, with an optional v,
// -prerelease and +build.
func TestValidateSemver(t *testing.T) {
	cases := []struct {
		v  string
		ok bool
	}{
		{"1.2.3", true}, {"v1.2.3", true}, {"0.0.0", true}, {"2.1.106", true},
		{"1.2.3-rc.1", true}, {"v1.2.3-rc.1+build.5", true}, {"1.2.3+build.5", true},
		{"1.2", false}, {"v1.2", false}, {"1", false}, {"v1", false},
		{"1.2.x", false}, {"1.2.3.4", false}, {"01.2.3", false}, {"1.2-rc.1", false},
		{"1.2+build", false}, {"vv1.2.3", false}, {"1.2.3-", false}, {"latest", false},
	}
	for _, c := range cases {
		s := &Spec{Base: "scratch", Image: "registry.example/app", Semver: c.v}
		errs := Validate(s)
		if (len(errs) == 0) != c.ok {
			t.Errorf("semver %q: Validate errors %v; want valid=%v", c.v, errs, c.ok)
		}
		if c.ok && !strings.Contains(c.v, "-") {
			if tags, err := SemverTags(c.v); err != nil || len(tags) != 3 {
				t.Errorf("semver %q: SemverTags = %v, %v; want three tags", c.v, tags, err)
			}
		}
	}
}
