package spec_test

import (
	"testing"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/spec"
)

// TestSemverMatchesPush checks that Validate accepts exactly the semver
// values push can fan out (compose.SemverTags), so a spec that validates
// never fails at push time over its semver.
func TestSemverMatchesPush(t *testing.T) {
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
		s := &spec.Spec{Base: "scratch", Image: "registry.example/app", Semver: c.v}
		errs := spec.Validate(s)
		_, pushErr := compose.SemverTags(c.v)
		if (len(errs) == 0) != c.ok || (pushErr == nil) != c.ok {
			t.Errorf("semver %q: Validate errors %v, SemverTags error %v; want valid=%v for both", c.v, errs, pushErr, c.ok)
		}
	}
}
