package registry

import "testing"

// TestHigherRelease: a floating tag is held only by a higher full release
// of its own line; prereleases, other lines and non-versions never hold it
// (issue 8, point 4).
func TestHigherRelease(t *testing.T) {
	tags := []string{"latest", "2", "2.1", "2.1.0", "2.0.9", "2.2.0-rc.1", "3.0.0", "v2.0.10", "edge"}
	for _, tc := range []struct {
		version, tag, want string
	}{
		{"2.0.9", "2", "2.1.0"},
		{"2.0.9", "2.0", "v2.0.10"},
		{"2.0.11", "2.0", ""},
		{"2.1.1", "2", ""},
		{"2.1.0", "2", ""}, // the same release again is the highest
		{"v2.0.9", "v2", "2.1.0"},
	} {
		line, ok := floatingTags(tc.version)[tc.tag]
		if !ok {
			t.Fatalf("%s: %s is not a floating tag of it (%v)", tc.version, tc.tag, floatingTags(tc.version))
		}
		if got := higherRelease(tags, line, tc.version); got != tc.want {
			t.Errorf("version %s, tag %s: held by %q, want %q", tc.version, tc.tag, got, tc.want)
		}
	}
	if f := floatingTags("2.2.0-rc.1"); len(f) != 0 {
		t.Errorf("a prerelease has floating tags %v", f)
	}
}
