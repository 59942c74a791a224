package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/spec"
)

// streamSpec writes a spec with one 6 MiB layer (random and text) pushed
// to host/web/site:v1, and returns its path.
func streamSpec(t *testing.T, host string) string {
	t.Helper()
	dir := t.TempDir()
	b := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{5}).Read(b)
	text := strings.Repeat("the quick brown fox jumps over the lazy dog\n", 3<<20/44)
	writeFiles(t, dir, map[string]string{
		"app/random.bin": string(b),
		"app/text.txt":   text,
		"image.yaml": fmt.Sprintf(`base: scratch
layers:
  - name: app
    files: [{src: "app/**", dest: /app/}]
image: %s/web/site
tags: [v1]
`, host),
	})
	return filepath.Join(dir, "image.yaml")
}

// layoutDigest builds spec into an OCI layout with a fresh cache and
// returns the digest strata prints.
func layoutDigest(t *testing.T, specPath string) string {
	t.Helper()
	code, out, errOut := runCLI(t, "build", "--cache-dir", t.TempDir(), "--oci", filepath.Join(t.TempDir(), "oci"), specPath)
	if code != 0 {
		t.Fatalf("build: exit %d\n%s", code, errOut)
	}
	return strings.TrimSpace(out)
}

// tagDigest returns the digest repo:tag points at on host, or "" if none.
func tagDigest(t *testing.T, host, repoTag string) string {
	t.Helper()
	repo, tag, _ := strings.Cut(repoTag, ":")
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// checkCache checks every layer record of the cache: its blobs exist and
// hash to their digests, so no later build can trust a partial blob.
func checkCache(t *testing.T, cache string) {
	t.Helper()
	recs, _ := filepath.Glob(filepath.Join(cache, "layers", "*.json"))
	for _, rp := range recs {
		b, err := os.ReadFile(rp)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", rp, err)
		}
		if r.Digest == "" {
			continue // a shape marker
		}
		alg, hx, _ := strings.Cut(r.Digest, ":")
		blob, err := os.ReadFile(filepath.Join(cache, "blobs", alg, hx))
		if err != nil {
			t.Errorf("%s names a missing blob: %v", filepath.Base(rp), err)
			continue
		}
		if sum := sha256.Sum256(blob); hex.EncodeToString(sum[:]) != hx || int64(len(blob)) != r.Size {
			t.Errorf("%s: blob %s does not match its digest or size", filepath.Base(rp), r.Digest)
		}
	}
	tmp, _ := os.ReadDir(filepath.Join(cache, "tmp"))
	for _, e := range tmp {
		t.Errorf("temporary file left in the cache: %s", e.Name())
	}
}

// bigPatches counts the PATCH requests that carried at least n bytes.
func bigPatches(p *faultproxy.Proxy, n int64) int {
	c := 0
	for _, e := range p.Log() {
		if e.Method == "PATCH" && e.BytesIn >= n {
			c++
		}
	}
	return c
}

// TestCLI_StreamedPushDigests: a cold push uploads the layer while it is
// compressed (one upload, no HEAD check of the layer afterwards) and gives
// exactly the digest of a build to an OCI layout.
func TestCLI_StreamedPushDigests(t *testing.T) {
	p, host := cliRegistry(t)
	specPath := streamSpec(t, host)
	want := layoutDigest(t, specPath)
	cache := t.TempDir()
	code, out, errOut := runCLI(t, "push", "--json", "--cache-dir", cache, specPath)
	if code != 0 {
		t.Fatalf("push: exit %d\n%s", code, errOut)
	}
	var r struct {
		Images []struct {
			Digest string        `json:"digest"`
			Layers []pushedLayer `json:"layers"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Images) != 1 || len(r.Images[0].Layers) != 1 {
		t.Fatalf("report %s: %v", out, err)
	}
	l := r.Images[0].Layers[0]
	if got := r.Images[0].Digest; got != want || tagDigest(t, host, "web/site:v1") != want {
		t.Errorf("pushed %s (tag at %s), a layout build gives %s", got, tagDigest(t, host, "web/site:v1"), want)
	}
	if l.Build != "built" || l.Push != "uploaded" || l.BytesUploaded != l.Size {
		t.Errorf("layer report %+v", l)
	}
	if n := p.Count("HEAD", "/blobs/"+l.Digest, 0); n != 0 {
		t.Errorf("the streamed layer was checked %d times after its upload", n)
	}
	if layerPatches := bigPatches(p, l.Size); layerPatches != 1 {
		t.Errorf("the layer was uploaded %d times, want once", layerPatches)
	}
	checkCache(t, cache)
}

// TestCLI_StreamedCommitOutlivesBuild: the registry's answer to the
// streamed layer's final PUT comes only after the build is over; the
// commit, sent in the background, still completes and the layer goes up
// once.
func TestCLI_StreamedCommitOutlivesBuild(t *testing.T) {
	p, host := cliRegistry(t)
	specPath := streamSpec(t, host)
	hold := make(chan struct{})
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/blobs/uploads/.*digest=`), Nth: 1, Action: faultproxy.Action{Wait: hold}})
	time.AfterFunc(300*time.Millisecond, func() { close(hold) })
	code, out, errOut := runCLI(t, "push", "--cache-dir", t.TempDir(), specPath)
	if code != 0 || tagDigest(t, host, "web/site:v1") != strings.TrimSpace(out) {
		t.Fatalf("push: exit %d, pushed %q\n%s", code, out, errOut)
	}
	if large := bigPatches(p, 1<<20); large != 1 {
		t.Errorf("the layer was sent %d times, want once", large)
	}
}

// TestCLI_StreamedPushFailure: when every upload is cut mid-stream, the
// push fails, no tag moves, and the cache holds only complete blobs; a
// rerun pushes the layout build's digest. When only the streamed upload is
// cut, the push uploads the stored blob instead and succeeds.
func TestCLI_StreamedPushFailure(t *testing.T) {
	p, host := cliRegistry(t)
	specPath := streamSpec(t, host)
	want := layoutDigest(t, specPath)
	cache := t.TempDir()

	p.Add(&faultproxy.Rule{Method: "PATCH", Action: faultproxy.Action{Reset: true, ResetAfter: 1 << 20}})
	code, _, errOut := runCLI(t, "push", "--retry-backoff", "1ms", "--cache-dir", cache, specPath)
	if code != 1 {
		t.Fatalf("push through a failing registry: exit %d\n%s", code, errOut)
	}
	if d := tagDigest(t, host, "web/site:v1"); d != "" {
		t.Errorf("the tag moved to %s after a failed push", d)
	}
	checkCache(t, cache)

	p.Clear()
	code, out, errOut := runCLI(t, "push", "--cache-dir", cache, specPath)
	if code != 0 || strings.TrimSpace(out) != want || tagDigest(t, host, "web/site:v1") != want {
		t.Fatalf("rerun: exit %d, pushed %q, want %s\n%s", code, out, want, errOut)
	}

	// Only the first (streamed) upload fails: the push recovers.
	p2, host2 := cliRegistry(t)
	specPath2 := streamSpec(t, host2)
	p2.Add(&faultproxy.Rule{Method: "PATCH", Nth: 1, Action: faultproxy.Action{Reset: true, ResetAfter: 1 << 20}})
	code, out, errOut = runCLI(t, "push", "--retry-backoff", "1ms", "--cache-dir", t.TempDir(), specPath2)
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("push after one cut stream: exit %d, pushed %q, want %s\n%s", code, out, want, errOut)
	}
	if !strings.Contains(errOut, "strata: warning: "+host2+"/web/site: uploading a layer while it was compressed: ") ||
		!strings.Contains(errOut, "(the push uploaded the layer again)") {
		t.Errorf("the cut stream is not warned about:\n%s", errOut)
	}
	// (The config and the documents are small: each goes up with its PUT.)
	if n := p2.Count("PATCH", "", 0); n != 2 {
		t.Errorf("%d PATCH requests; want the cut stream and the layer's second upload", n)
	}
}

// TestLazyTee_BuildCancelEndsStalledStream: a build cancelled (another
// spec failed) while the registry has stopped reading its layer's upload
// is not held by the upload: the blocked write returns at once.
func TestLazyTee_BuildCancelEndsStalledStream(t *testing.T) {
	p, host := cliRegistry(t)
	hold := make(chan struct{})
	p.Add(&faultproxy.Rule{Method: "PATCH", Action: faultproxy.Action{Wait: hold}})
	streams := &pushStreams{ctx: context.Background(), cfg: registry.TransportConfig{Backoff: time.Millisecond}}
	defer streams.wait(context.Background())
	s := &spec.Spec{Image: host + "/web/site", Tags: []string{"v1"}}
	bctx, cancel := context.WithCancel(context.Background())
	tee, err := streams.tee(bctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(hold); tee.Abort() }()
	done := make(chan error, 1)
	go func() {
		chunk := make([]byte, 1<<20)
		for range 64 { // far more than the sockets buffer
			if _, err := tee.Write(chunk); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("64 MiB were written to an upload the registry does not read")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write was still blocked 10 s after the build was cancelled")
	}
}
