package compose

import (
	"context"
	"errors"
	"testing"

	"github.com/strata-build/strata/spec"
)

// TestBuildOnePlatform: WithPlatform builds one platform of a
// multi-platform spec, and its image is the very manifest the index holds
// for that platform (issue 8 point 3).
func TestBuildOnePlatform(t *testing.T) {
	s := multiPlatformSpec(t)
	idx := testBaseIndex(t, amd64, armv7, arm64)
	opts := []Option{WithBaseResolver(resolverFor(s.Base, nil, idx))}
	all, err := Build(context.Background(), s, t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []spec.Platform{arm64, amd64, armv7} {
		one, err := Build(context.Background(), s, t.TempDir(), append(opts, WithPlatform(p))...)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if one.Artifact.Image == nil || len(one.Platforms) != 1 || one.Platforms[0].Platform != p {
			t.Fatalf("%s: want a single image of that platform, got %+v", p, one.Platforms)
		}
		if one.Digest != all.Platforms[i].Digest {
			t.Errorf("%s: digest %s, want the index's manifest %s", p, one.Digest, all.Platforms[i].Digest)
		}
	}

	// A platform the spec does not list.
	_, err = Build(context.Background(), s, t.TempDir(), append(opts, WithPlatform(spec.Platform{OS: "linux", Architecture: "s390x"}))...)
	if !errors.Is(err, ErrNoSuchPlatform) || err.Error() != "platform linux/s390x is not one of the spec's platforms (linux/arm64, linux/amd64, linux/arm/v7)" {
		t.Errorf("unknown platform: err = %v", err)
	}

	// No platforms in the spec: one of the base's, else an error.
	s.Platforms = nil
	s.Layers = s.Layers[:1]
	one, err := Build(context.Background(), s, t.TempDir(), append(opts, WithPlatform(arm64))...)
	if err != nil {
		t.Fatal(err)
	}
	if one.Artifact.Image == nil || one.Platforms[0].Platform != arm64 {
		t.Errorf("base platform: got %+v", one.Platforms)
	}
	_, err = Build(context.Background(), s, t.TempDir(), append(opts, WithPlatform(spec.Platform{OS: "linux", Architecture: "s390x"}))...)
	if !errors.Is(err, ErrNoSuchPlatform) || err.Error() != "platform linux/s390x is not one of the base's platforms (linux/amd64, linux/arm/v7, linux/arm64)" {
		t.Errorf("unknown base platform: err = %v", err)
	}
}
