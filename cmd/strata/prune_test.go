package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestCommandsHoldInUse: build, plan and copy into the store hold the
// in-use locks for their whole run, so a prune meanwhile removes nothing.
func TestCommandsHoldInUse(t *testing.T) {
	dir := t.TempDir()
	cache, storeDir := filepath.Join(dir, "strata"), filepath.Join(dir, "data", "strata", "oci")
	specPath := filepath.Join(dir, "image.yaml")
	if err := os.WriteFile(specPath, []byte("base: scratch\nimage: r.local/app\ntags: [v1]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	otherStore, otherCache := filepath.Join(dir, "other", "oci"), filepath.Join(dir, "other", "cache")
	for _, c := range []struct {
		args               []string
		useStore, useCache bool
	}{
		{[]string{"build", specPath}, true, true},
		{[]string{"build", "--oci", storeDir, specPath}, true, true},
		{[]string{"plan", specPath}, false, true},
		{[]string{"copy", "oci:" + storeDir + ":r.local/app:v1", "oci:" + storeDir + ":copy"}, true, false},
	} {
		var stdout, stderr bytes.Buffer
		a := &app{stdout: &stdout, stderr: &stderr, env: map[string]string{
			"HOME": dir, "XDG_CACHE_HOME": dir, "XDG_DATA_HOME": filepath.Join(dir, "data")}}
		root := a.rootCmd()
		root.SetArgs(c.args)
		root.SetOut(&stdout)
		root.SetErr(&stderr)
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		// The command is done but has not released its locks (run does):
		// prune the store alone, then the cache alone.
		_, err := store.Prune(storeDir, otherCache, store.PruneOptions{OlderThan: time.Hour})
		if got := errors.Is(err, store.ErrInUse); got != c.useStore {
			t.Errorf("%v: prune of the store: err = %v, want in use: %v", c.args, err, c.useStore)
		}
		_, err = store.Prune(otherStore, cache, store.PruneOptions{OlderThan: time.Hour})
		if got := errors.Is(err, store.ErrInUse); got != c.useCache {
			t.Errorf("%v: prune of the cache: err = %v, want in use: %v", c.args, err, c.useCache)
		}
		for _, release := range a.releases {
			release()
		}
	}
	if _, err := store.Prune(storeDir, cache, store.PruneOptions{OlderThan: time.Nanosecond}); err != nil {
		t.Errorf("prune once every command released: %v", err)
	}
}
