package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/internal/testregistry"
	"github.com/strata-build/strata/spec"
)

// distribution starts docker-registry behind a counting fault proxy and
// returns the proxy and its host.
func startDistribution(t *testing.T, opts ...testregistry.Option) (*faultproxy.Proxy, string) {
	t.Helper()
	r := testregistry.Start(t, launchProgram, opts...)
	u, _ := url.Parse("http://" + r.Host)
	p := faultproxy.New(httputil.NewSingleHostReverseProxy(u))
	s := httptest.NewServer(p)
	t.Cleanup(func() { p.Close(); s.Close() })
	return p, strings.TrimPrefix(s.URL, "http://")
}

// tarLayerOf makes a gzip OCI layer holding files (path → content), sorted.
func tarLayerOf(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		tw.WriteHeader(&tar.Header{Name: k, Mode: 0o644, Size: int64(len(files[k])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[k]))
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf stacks layers into an OCI linux/amd64 image.
func imageOf(t *testing.T, base v1.Image, layers ...v1.Layer) v1.Image {
	t.Helper()
	if base == nil {
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return fixture.AsLinux(t, img)
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (make tools installs it): %v", name, err)
	}
	return p
}

// TestDistribution_EndToEnd pushes to a real distribution 2.8 registry:
// tags with semver fan-out, real cross-repo mounts of the base, a no-op
// re-push, tags/inspect/copy/delete, and skopeo + umoci reading the result.
func TestDistribution_EndToEnd(t *testing.T) {
	p, host := startDistribution(t)
	ctx := context.Background()
	base := imageOf(t, nil, tarLayerOf(t, map[string]string{"etc/os-release": "ID=test\n"}), tarLayerOf(t, map[string]string{"usr/share/www/index.html": "base\n"}))
	pushTo(t, oci.Artifact{Image: base}, host+"/lib/base:1")

	app := imageOf(t, base, tarLayerOf(t, map[string]string{"usr/share/www/index.html": "app\n", "usr/share/www/css/site.css": "body{}\n"}))
	appDigest, _ := app.Digest()
	tags, err := spec.ResolveTags(host+"/web/app", []string{"latest", "edge", "stable", "prod"}, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	baseRepo, _ := name.NewRepository(host + "/lib/base")
	req := []PushRequest{{Artifact: oci.Artifact{Image: app}, Tags: tags, MountFrom: []name.Repository{baseRepo}}}
	p.ResetLog()
	rep, err := Push(ctx, req, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	// distribution links blobs per repository: the base layers are mounted.
	if rep.BlobsMounted != 2 || rep.BlobsUploaded != 2 || rep.BlobsSkipped != 0 {
		t.Errorf("first push: up %d mounted %d skipped %d", rep.BlobsUploaded, rep.BlobsMounted, rep.BlobsSkipped)
	}
	if n := p.Count("POST", `mount=`, 201); n != 2 {
		t.Errorf("registry mounted %d blobs, want 2", n)
	}
	if n := uploads(p); n != 2 {
		t.Errorf("registry received %d uploads, want 2", n)
	}

	// No-op re-push: nothing uploaded, counted at the registry.
	p.ResetLog()
	rep, err = Push(ctx, req, PushOptions{Transport: fastRetries()})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Count("PATCH", ``, 0) + p.Count("POST", ``, 0) + p.Count("PUT", ``, 0); n != 0 || rep.BlobsSkipped != 4 {
		t.Errorf("re-push wrote %d times, skipped %d", n, rep.BlobsSkipped)
	}
	for tg, s := range statusByTag(rep) {
		if s != "unchanged" {
			t.Errorf("%s %s", tg, s)
		}
	}

	repo, _ := name.NewRepository(host + "/web/app")
	got, err := ListTags(ctx, repo, fastRetries())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1", "1.2", "1.2.3", "edge", "latest", "prod", "stable"}; !slices.Equal(got, want) {
		t.Errorf("tags = %q, want %q", got, want)
	}
	latest, _ := name.ParseReference(host + "/web/app:latest")
	ins, err := Inspect(ctx, latest, fastRetries())
	if err != nil {
		t.Fatal(err)
	}
	if ins.Digest != appDigest.String() || len(ins.Layers) != 3 || ins.MediaType != string(types.OCIManifestSchema1) {
		t.Errorf("inspect: %+v", ins)
	}

	// skopeo copies it (re-hashing every blob) and umoci unpacks the tree.
	dir := t.TempDir()
	out := filepath.Join(dir, "oci")
	cmd := exec.Command(needTool(t, "skopeo"), "copy", "--src-tls-verify=false", "--preserve-digests", "docker://"+host+"/web/app:1.2.3", "oci:"+out+":v")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo: %v\n%s", err, b)
	}
	var index v1.IndexManifest
	b, _ := os.ReadFile(filepath.Join(out, "index.json"))
	if err := json.Unmarshal(b, &index); err != nil || len(index.Manifests) != 1 || index.Manifests[0].Digest != appDigest {
		t.Fatalf("skopeo copy digest: %s (%v), want %s", b, err, appDigest)
	}
	bundle := filepath.Join(dir, "bundle")
	cmd = exec.Command(needTool(t, "umoci"), "unpack", "--rootless", "--image", out+":v", bundle)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("umoci: %v\n%s", err, b)
	}
	tree := map[string]string{}
	root := filepath.Join(bundle, "rootfs")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			c, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			tree[rel] = string(c)
		}
		return nil
	})
	want := map[string]string{"etc/os-release": "ID=test\n", "usr/share/www/index.html": "app\n", "usr/share/www/css/site.css": "body{}\n"}
	if len(tree) != len(want) {
		t.Errorf("unpacked tree %v, want %v", tree, want)
	}
	for k, v := range want {
		if tree[k] != v {
			t.Errorf("%s = %q, want %q", k, tree[k], v)
		}
	}

	// Docker archives, .tar and .tar.gz, copied as they are.
	tag, _ := name.NewTag("example.com/app:1")
	plain := filepath.Join(dir, "app.tar")
	if err := tarball.WriteToFile(plain, tag, app); err != nil {
		t.Fatal(err)
	}
	gz := plain + ".gz"
	gzipCopy(t, plain, gz)
	for i, f := range []string{plain, gz} {
		dst := host + "/archive/app:" + []string{"tar", "targz"}[i]
		res, err := Copy(ctx, mustLocation(t, "docker-archive:"+f), mustLocation(t, dst), CopyOptions{Push: PushOptions{Transport: fastRetries()}})
		if err != nil {
			t.Fatal(err)
		}
		if d := fixture.ValidateRemote(t, dst); d.String() != res.Digest {
			t.Errorf("%s: %s vs %s", f, d, res.Digest)
		}
	}

	// Delete by tag resolves the digest; distribution drops its tags.
	d, err := Delete(ctx, latest, fastRetries())
	if err != nil {
		t.Fatal(err)
	}
	if d != appDigest {
		t.Errorf("deleted %s", d)
	}
	if _, err := remote.Head(latest); err == nil {
		t.Error("latest still resolves after delete")
	}
}

// TestDistribution_DeleteRefused: a registry without deletes gets a clear
// message.
func TestDistribution_DeleteRefused(t *testing.T) {
	_, host := startDistribution(t, testregistry.WithoutDeletes())
	pushTo(t, oci.Artifact{Image: fixture.LinuxImage(t, 1)}, host+"/nodel/app:v1")
	ref, _ := name.ParseReference(host + "/nodel/app:v1")
	_, err := Delete(context.Background(), ref, fastRetries())
	if !errors.Is(err, ErrDeleteRefused) || !strings.Contains(err.Error(), "enable deletes on the registry") {
		t.Fatalf("err = %v", err)
	}
	fixture.ValidateRemote(t, host+"/nodel/app:v1")
}

// TestDistribution_PartialPushThenRerun: as the in-process F5, against the
// stricter registry.
func TestDistribution_PartialPushThenRerun(t *testing.T) {
	p, host := startDistribution(t)
	p.Add(&faultproxy.Rule{Method: "PUT", Path: faultproxy.PathRe(`/manifests/`), Action: faultproxy.Action{Status: 500}})
	img := fixture.LinuxImage(t, 2)
	req := []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/part/app:v1")}}
	if _, err := Push(context.Background(), req, PushOptions{Transport: fastRetries()}); err == nil {
		t.Fatal("push succeeded through a permanent 500")
	}
	ref, _ := name.NewTag(host + "/part/app:v1")
	if _, err := remote.Head(ref); err == nil {
		t.Error("tag exists after the failed push")
	}
	p.Clear()
	p.ResetLog()
	if _, err := Push(context.Background(), req, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	if n := uploads(p); n != 0 {
		t.Errorf("re-run uploaded %d blobs again", n)
	}
	d, _ := img.Digest()
	if fixture.ValidateRemote(t, host+"/part/app:v1") != d {
		t.Error("wrong digest")
	}
}

// In a repository listed as new, mounts and uploads start beside the probe
// that confirms the listing, but the probe's own blob (the largest; here a
// base layer mounted from the base's repository) is placed only after its
// answer: mounted first, it would make the probe find it, and the push
// would ask for every blob and manifest. The probe's HEAD is held back
// until the other blobs have been mounted or their uploads started.
func TestDistribution_NewRepositoryProbeNotFooledByOwnMount(t *testing.T) {
	p, host := startDistribution(t)
	noise := make([]byte, 32<<10)
	rand.NewChaCha8([32]byte{1}).Read(noise)                      //nolint:errcheck // never fails
	big := tarLayerOf(t, map[string]string{"big": string(noise)}) // the largest blob
	small := tarLayerOf(t, map[string]string{"small": "s"})
	base, err := mutate.AppendLayers(empty.Image, big, small)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: base}, Tags: tagsOf(t, host+"/base:1")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, tarLayerOf(t, map[string]string{"app": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	p.Add(&faultproxy.Rule{Method: "HEAD", Path: regexp.MustCompile("/fresh/blobs/"), Action: faultproxy.Action{Wait: hold}})
	var beside atomic.Bool // the other blobs' POSTs went out while the probe was held
	go func() {
		defer close(hold)
		beside.Store(until(func() bool { return p.Count("POST", `/fresh/blobs/uploads/`, 0) >= 3 }))
	}()
	rep, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/fresh:v1"),
		MountFrom: []name.Repository{tagsOf(t, host+"/base:1")[0].Context()}}}, PushOptions{Transport: fastRetries(), New: []string{host + "/fresh"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsMounted != 2 || rep.BlobsUploaded != 2 || rep.BlobsSkipped != 0 {
		t.Errorf("mounted %d, uploaded %d, skipped %d blobs; want 2, 2, 0", rep.BlobsMounted, rep.BlobsUploaded, rep.BlobsSkipped)
	}
	if n := p.Count("HEAD", `/fresh/manifests/sha256:`, 0); n != 0 {
		t.Errorf("%d manifest HEADs: the probe took the push's own mount for an earlier push's blob", n)
	}
	if n := p.Count("HEAD", `/fresh/blobs/`, 0); n != 1 {
		t.Errorf("%d blob HEADs, want the probe's one", n)
	}
	if !beside.Load() {
		t.Error("the other blobs' mounts and uploads waited for the probe")
	}
}

// The rerun of a first push into a new repository that failed at its
// manifests sends no blob again; the uploads it started beside the probe
// before learning the repository was not new are dropped (DELETE), not
// left open. (Its base layers may be reported mounted rather than
// skipped: their mounts went out beside the probe.)
func TestDistribution_RerunIntoNewRepositoryDropsItsUploads(t *testing.T) {
	p, host := startDistribution(t)
	base, err := random.Image(64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: base}, Tags: tagsOf(t, host+"/base:1")}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, tarLayerOf(t, map[string]string{"app": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	req := PushRequest{Artifact: oci.Artifact{Image: img}, Tags: tagsOf(t, host+"/rerun:v1"), MountFrom: []name.Repository{tagsOf(t, host+"/base:1")[0].Context()}}
	p.Add(&faultproxy.Rule{Method: "PUT", Path: regexp.MustCompile("/manifests/sha256:"), Action: faultproxy.Action{Status: 400, Code: "MANIFEST_INVALID"}})
	o := PushOptions{Transport: fastRetries(), New: []string{host + "/rerun"}}
	if _, err := Push(context.Background(), []PushRequest{req}, o); err == nil {
		t.Fatal("the first push did not fail")
	}
	p.Clear()
	p.ResetLog()
	rep, err := Push(context.Background(), []PushRequest{req}, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BlobsUploaded != 0 || rep.BlobsMounted+rep.BlobsSkipped != 4 || uploads(p) != 0 {
		t.Errorf("the rerun uploaded %d blobs (%d PUTs), mounted %d, skipped %d; want nothing sent again", rep.BlobsUploaded, uploads(p), rep.BlobsMounted, rep.BlobsSkipped)
	}
	if started, dropped := p.Count("POST", `/rerun/blobs/uploads/`, 202), p.Count("DELETE", `/rerun/blobs/uploads/`, 0); started != dropped {
		t.Errorf("the rerun started %d uploads and dropped %d", started, dropped)
	}
}
