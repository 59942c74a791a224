package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/strata-build/strata/compose/store"
)

// TestPruneInUse: while another strata process uses the cache (a build
// holds store.Use on it from start to end), prune removes nothing and
// exits 1 saying so (issue 8 point 13).
func TestPruneInUse(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "strata") // $XDG_CACHE_HOME/strata
	env := []string{"HOME=" + dir, "XDG_CACHE_HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data")}
	release, err := store.Use(cache)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"prune", "--older-than", "1h"}, nil, &stdout, &stderr, env)
	release()
	want := "strata: " + cache + " is in use by another strata process (a build, plan or push); nothing was removed, try again when it has finished\n"
	if code != exitFailure || stdout.Len() != 0 || stderr.String() != want {
		t.Errorf("prune while in use: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout.String(), stderr.String(), want)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"prune", "--older-than", "1h"}, nil, &stdout, &stderr, env); code != exitOK {
		t.Errorf("prune after release: exit %d, %s", code, stderr.String())
	}
}
