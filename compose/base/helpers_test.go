package base

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

const testDigest = "sha256:4a1e1f1a9c3a8f2c7f4d5e6b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708"

// resolver bundles Resolve's cache directory and options, for tests.
type resolver struct {
	cacheDir string
	Options
}

// resolveBase calls Resolve with r's settings.
func resolveBase(ctx context.Context, loc string, want []spec.Platform, r resolver) (*Resolved, error) {
	return Resolve(ctx, loc, want, r.cacheDir, r.Options)
}

// viaRegistry returns settings that reach reg through its counting
// transport, with the cache in a fresh temp dir unless cacheDir is given.
func viaRegistry(t testing.TB, reg *fixture.Registry, cacheDir string, logger *slog.Logger) resolver {
	t.Helper()
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	return resolver{cacheDir: cacheDir, Options: Options{
		Logger: logger,
		Remote: []remote.Option{remote.WithTransport(reg.Transport), remote.WithRetryBackoff(remote.Backoff{Steps: 1})},
	}}
}
