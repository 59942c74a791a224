package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// TestBaseCheckWhenRemoving: with BaseCheckWhenRemoving (push, plan) a spec
// that only adds does not download a registry base's layers for the checks
// (no blob GET, no base blob in the cache); one that deletes does, and the
// check runs; the default (build) always checks.
func TestBaseCheckWhenRemoving(t *testing.T) {
	reg := fixture.NewRegistry(t)
	reg.Push(t, "lib/nginx:1", nginxBase(t, nil))
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"a.txt": "a\n"})
	specOf := func(l spec.Layer) *spec.Spec {
		return &spec.Spec{Base: reg.Host + "/lib/nginx:1", Context: ctxDir, Layers: []spec.Layer{l}}
	}
	// Adding below the base's file: unpackable, but only seen with the base's file list.
	addOnly := specOf(spec.Layer{Files: []spec.File{add("/etc/nginx/conf.d/default.conf/x")}})
	typo := specOf(spec.Layer{Delete: []string{"/etc/nginx/conf.d/defualt.conf"}})
	run := func(s *spec.Spec, opts ...Option) (string, error) {
		t.Helper()
		reg.Transport.Reset()
		opts = append(opts, WithRemote(remote.WithTransport(reg.Transport)))
		_, err := Plan(context.Background(), s, t.TempDir(), opts...)
		return reg.Transport.Requests(), err
	}
	blobGETs := func(log string) int {
		n := 0
		for _, l := range strings.Split(log, "\n") {
			if strings.HasPrefix(l, "GET ") && strings.Contains(l, "/blobs/") {
				n++
			}
		}
		return n
	}

	log, err := run(addOnly, WithBaseCheck(BaseCheckWhenRemoving))
	if err != nil {
		t.Fatalf("add-only plan with BaseCheckWhenRemoving: %v", err)
	}
	// The config blob is fetched; no layer blob is.
	if n := blobGETs(log); n != 1 {
		t.Errorf("add-only plan fetched %d blobs, want 1 (the config only):\n%s", n, log)
	}

	log, err = run(typo, WithBaseCheck(BaseCheckWhenRemoving))
	if err == nil || !strings.Contains(err.Error(), "delete /etc/nginx/conf.d/defualt.conf: no such path in the base or earlier layers (did you mean /etc/nginx/conf.d/default.conf?)") {
		t.Errorf("delete typo with BaseCheckWhenRemoving: err = %v, want the did-you-mean error", err)
	}
	if n := blobGETs(log); n != 3 {
		t.Errorf("delete plan fetched %d blobs, want 3 (config and both layers):\n%s", n, log)
	}

	_, err = run(addOnly)
	if err == nil || !strings.Contains(err.Error(), "/etc/nginx/conf.d/default.conf is a file in the base") {
		t.Errorf("add-only plan with the default check: err = %v, want the file-in-the-base error", err)
	}
}

// TestBaseIndexStreamedOnce: three specs on one registry base, built in one
// BuildAll with the full base check and an empty cache, read each base
// layer from the registry once, for its tar headers only: the base layer
// blobs are not stored in the cache (a push mounts them), the header
// indexes are.
func TestBaseIndexStreamedOnce(t *testing.T) {
	reg := fixture.NewRegistry(t)
	base := nginxBase(t, nil)
	reg.Push(t, "lib/nginx:1", base)
	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"a.txt": "a\n"})
	var specs []*spec.Spec
	for _, dest := range []string{"/srv/a", "/srv/b", "/srv/c"} {
		specs = append(specs, &spec.Spec{Base: reg.Host + "/lib/nginx:1", Context: ctxDir,
			Layers: []spec.Layer{{Files: []spec.File{{Src: "a.txt", Dest: dest}}}}})
	}
	cache := t.TempDir()
	reg.Transport.Reset()
	if _, err := BuildAll(context.Background(), specs, nil, cache, WithJobs(3), WithRemote(remote.WithTransport(reg.Transport))); err != nil {
		t.Fatal(err)
	}
	log := reg.Transport.Requests()
	ls, err := base.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, _ := l.Digest()
		n := 0
		for _, line := range strings.Split(log, "\n") {
			if strings.HasPrefix(line, "GET ") && strings.Contains(line, "/blobs/"+d.String()) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("base layer %s fetched %d times by three specs, want once:\n%s", d, n, log)
		}
		if _, err := os.Stat(filepath.Join(cache, "blobs", d.Algorithm, d.Hex)); err == nil {
			t.Errorf("base layer %s was stored in the cache; only its header index is needed", d)
		}
		diffID, _ := l.DiffID()
		if _, err := os.Stat(filepath.Join(cache, "treeindex", diffID.Algorithm+"-"+diffID.Hex+".gz")); err != nil {
			t.Errorf("no header index for base layer %s: %v", diffID, err)
		}
	}
}
