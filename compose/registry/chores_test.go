package registry

import (
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

func pushTo(t *testing.T, art oci.Artifact, refs ...string) {
	t.Helper()
	if _, err := Push(context.Background(), []PushRequest{{Artifact: art, Tags: tagsOf(t, refs...)}}, PushOptions{Transport: fastRetries()}); err != nil {
		t.Fatal(err)
	}
}

func TestListTagsInspectDelete(t *testing.T) {
	p, host := pushRegistry(t)
	ctx := context.Background()
	img := fixture.LinuxImage(t, 2)
	pushTo(t, oci.Artifact{Image: img}, host+"/c/app:v2", host+"/c/app:v1", host+"/c/app:latest")
	repo, _ := name.NewRepository(host + "/c/app")
	tags, err := ListTags(ctx, repo, fastRetries())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"latest", "v1", "v2"}) {
		t.Errorf("tags = %q", tags)
	}

	ref, _ := name.ParseReference(host + "/c/app:v1")
	ins, err := Inspect(ctx, ref, fastRetries())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	m, _ := img.Manifest()
	if ins.Digest != d.String() || len(ins.Layers) != 2 || ins.Layers[1].Digest != m.Layers[1].Digest.String() ||
		ins.Config == nil || ins.Config.Digest != m.Config.Digest.String() || ins.Config.Platform != "linux/amd64" {
		t.Errorf("inspect = %+v", ins)
	}

	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	pushTo(t, oci.Artifact{Index: idx}, host+"/c/multi:v1")
	iref, _ := name.ParseReference(host + "/c/multi:v1")
	ins, err = Inspect(ctx, iref, fastRetries())
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(ins.Manifests) != 2 || ins.Manifests[0].Digest != im.Manifests[0].Digest.String() || ins.Config != nil {
		t.Errorf("inspect index = %+v", ins)
	}

	// A registry that refuses deletes gets a clear message.
	p.Add(&faultproxy.Rule{Method: "DELETE", Nth: 1, Action: faultproxy.Action{Status: 405, Code: "UNSUPPORTED"}})
	_, err = Delete(ctx, ref, fastRetries())
	if !errors.Is(err, ErrDeleteRefused) || !strings.Contains(err.Error(), "deleting "+host+"/c/app@"+d.String()+": registry refuses deletes: "+host+" answered HTTP 405; enable deletes") {
		t.Errorf("refused delete: %v", err)
	}
	got, err := Delete(ctx, ref, fastRetries())
	if err != nil {
		t.Fatal(err)
	}
	if got != d {
		t.Errorf("deleted %s, want %s", got, d)
	}
	if _, err := remote.Get(repo.Digest(d.String())); err == nil {
		t.Error("manifest still there after delete")
	}
	if n := p.Count("DELETE", "/manifests/"+d.String(), 202); n != 1 {
		t.Errorf("%d DELETEs by digest, want 1", n)
	}
}

func TestParseLocation(t *testing.T) {
	for _, tc := range []struct{ in, kind, dir, tag, err string }{
		{in: "oci:out", kind: "oci", dir: "out"},
		{in: "oci:some/dir:v1", kind: "oci", dir: "some/dir", tag: "v1"},
		{in: "oci:./a:b/dir", kind: "oci", dir: "./a:b/dir"},
		{in: "oci:dir@sha256:" + strings.Repeat("a", 64), kind: "oci", dir: "dir"},
		{in: "oci:dir@sha256:zz", err: "bad digest"},
		{in: "oci:dir:-bad", err: "not a valid tag"},
		{in: "oci:", err: "missing layout directory"},
		{in: "docker-archive:img.tar.gz", kind: "docker-archive"},
		{in: "docker-archive:img.zip", err: "must end in .tar, .tar.gz or .tgz"},
		{in: "docker-archive:", err: "missing file"},
		{in: "127.0.0.1:5000/a:b", kind: "registry"},
		{in: "scratch", err: "not an image location"},
		{in: "UPPER/case", err: "UPPER/case"},
	} {
		l, err := ParseLocation(tc.in, TransportConfig{})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || l.Kind != tc.kind || (tc.kind == "oci" && (l.loc.Dir != tc.dir || l.loc.Tag != tc.tag)) || l.String() != tc.in {
			t.Errorf("%s: %+v, %v", tc.in, l, err)
		}
	}
}

func mustLocation(t *testing.T, s string) Location {
	t.Helper()
	l, err := ParseLocation(s, TransportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCopy(t *testing.T) {
	_, host := pushRegistry(t)
	ctx := context.Background()
	dir := t.TempDir()
	img := fixture.LinuxImage(t, 2)
	d, _ := img.Digest()
	pushTo(t, oci.Artifact{Image: img}, host+"/src/app:v1")

	// registry → registry (another repo: blobs mounted or skipped, never uploaded)
	res, err := Copy(ctx, mustLocation(t, host+"/src/app:v1"), mustLocation(t, host+"/dst/app:copied"), CopyOptions{Push: PushOptions{Transport: fastRetries()}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != d.String() || res.Push.BlobsUploaded != 0 || fixture.ValidateRemote(t, host+"/dst/app:copied") != d {
		t.Errorf("registry copy: %+v", res)
	}

	// registry → oci layout, and back.
	lay := filepath.Join(dir, "layout")
	if _, err := Copy(ctx, mustLocation(t, host+"/src/app:v1"), mustLocation(t, "oci:"+lay+":v1"), CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	lidx, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(lidx); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, mustLocation(t, "oci:"+lay+":v1"), mustLocation(t, host+"/fromoci/app:v1"), CopyOptions{Push: PushOptions{Transport: fastRetries()}}); err != nil {
		t.Fatal(err)
	}
	if fixture.ValidateRemote(t, host+"/fromoci/app:v1") != d {
		t.Error("oci → registry changed the digest")
	}
	if _, err := Copy(ctx, mustLocation(t, "oci:"+lay+":nope"), mustLocation(t, host+"/x/y:z"), CopyOptions{}); err == nil || !strings.Contains(err.Error(), `no image tagged "nope" (tags: v1)`) {
		t.Errorf("missing tag: %v", err)
	}

	// docker archives, plain and gzip-compressed.
	tag, _ := name.NewTag("example.com/app:1")
	plain := filepath.Join(dir, "img.tar")
	if err := tarball.WriteToFile(plain, tag, img); err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "img.tar.gz")
	gzipCopy(t, plain, gz)
	for _, f := range []string{plain, gz} {
		res, err := Copy(ctx, mustLocation(t, "docker-archive:"+f), mustLocation(t, host+"/archive/app:"+filepath.Ext(f)[1:]), CopyOptions{Push: PushOptions{Transport: fastRetries()}})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if res.Digest != d.String() || fixture.ValidateRemote(t, host+"/archive/app:"+filepath.Ext(f)[1:]) != d {
			t.Errorf("%s: digest %s, want %s", f, res.Digest, d)
		}
	}
	if _, err := Copy(ctx, mustLocation(t, "docker-archive:"+filepath.Join(dir, "missing.tar")), mustLocation(t, host+"/x/y:z"), CopyOptions{}); err == nil || !strings.Contains(err.Error(), "missing.tar: no such file") {
		t.Errorf("missing archive: %v", err)
	}
	if _, err := Copy(ctx, mustLocation(t, host+"/src/app:v1"), mustLocation(t, "docker-archive:"+filepath.Join(dir, "out.tar")), CopyOptions{}); err == nil || !strings.Contains(err.Error(), "can only copy to a registry or an oci: layout") {
		t.Errorf("archive destination: %v", err)
	}
}

func gzipCopy(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}
