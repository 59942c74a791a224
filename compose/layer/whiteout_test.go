package layer

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/spec"
)

func TestBuildLayerWhiteouts(t *testing.T) {
	env := newEnv(t, []tfile{
		{path: "html/index.html", content: "new"},
		{path: "conf/app.conf", content: "conf"},
		{path: "emptydir", dir: true},
	})
	tests := []struct {
		name string
		l    spec.Layer
		want []string
	}{
		{"delete is a whiteout", spec.Layer{Delete: []string{"/etc/nginx/conf.d/default.conf"}},
			[]string{"etc/nginx/conf.d/.wh.default.conf file 0644 0:0"}},
		{"clear is an opaque whiteout before the new contents", spec.Layer{
			Clear: []string{"/usr/share/nginx/html"},
			Files: []spec.File{{Src: "html/**", Dest: "/usr/share/nginx/html/"}}},
			[]string{
				"usr/share/nginx/html/.wh..wh..opq file 0644 0:0",
				"usr/share/nginx/html/index.html file 0644 0:0 =new",
			}},
		{"whiteouts sort before their siblings", spec.Layer{
			Delete: []string{"/etc/zz", "/etc/-dash", "/etc/sub"},
			Files:  []spec.File{{Src: "conf/app.conf", Dest: "/etc/"}, {Src: "conf/app.conf", Dest: "/etc/+plus"}}},
			[]string{
				"etc/.wh.-dash file 0644 0:0",
				"etc/.wh.sub file 0644 0:0",
				"etc/.wh.zz file 0644 0:0",
				"etc/+plus file 0644 0:0 =conf",
				"etc/app.conf file 0644 0:0 =conf",
			}},
		{"delete then add the same file: the new entry replaces it", spec.Layer{
			Delete: []string{"/etc/app.conf"},
			Files:  []spec.File{{Src: "conf/app.conf", Dest: "/etc/"}}},
			[]string{"etc/app.conf file 0644 0:0 =conf"}},
		{"delete then add below a directory: directory and opaque whiteout", spec.Layer{
			Delete: []string{"/etc/app"},
			Files:  []spec.File{{Src: "conf/app.conf", Dest: "/etc/app/sub/"}}},
			[]string{
				"etc/app/ dir 0755 0:0",
				"etc/app/.wh..wh..opq file 0644 0:0",
				"etc/app/sub/app.conf file 0644 0:0 =conf",
			}},
		{"delete then declare the directory keeps its metadata", spec.Layer{
			Delete: []string{"/var/lib/app"},
			Dirs:   []spec.Dir{{Path: "/var/lib/app", Mode: "0700", Owner: "10:10"}}},
			[]string{
				"var/lib/app/ dir 0700 10:10",
				"var/lib/app/.wh..wh..opq file 0644 0:0",
			}},
		{"delete then add an empty source dir", spec.Layer{
			Delete: []string{"/e"},
			Files:  []spec.File{{Src: "emptydir", Dest: "/e"}}},
			[]string{"e/ dir 0755 0:0", "e/.wh..wh..opq file 0644 0:0"}},
		{"deletes below a deleted path are dropped", spec.Layer{
			Delete: []string{"/a/b/c", "/a", "/a/b"}, Clear: []string{"/a/x"}},
			[]string{".wh.a file 0644 0:0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bl := env.build(t, tc.l)
			diffLines(t, summary(readLayer(t, bl)), tc.want)
		})
	}
}

// TestBuildLayerWhiteoutsUmoci applies a base layer and a layer with
// deletes, clears and delete-then-add with umoci and checks the tree.
func TestBuildLayerWhiteoutsUmoci(t *testing.T) {
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Fatal("umoci is required (make tools installs it)")
	}
	env := newEnv(t, []tfile{
		{path: "base/etc/motd", content: "motd"},
		{path: "base/etc/keep", content: "keep"},
		{path: "base/etc/conf", content: "old"},
		{path: "base/var/cache/a", content: "a"},
		{path: "base/var/cache/b", content: "b"},
		{path: "base/opt/app/old", content: "old"},
		{path: "base/opt/app/lib/x", content: "x"},
		{path: "new/conf", content: "new"},
		{path: "new/cache/new", content: "n"},
		{path: "new/app/bin", content: "bin"},
	})
	req := env.request(spec.Layer{})
	req.Spec.Layers = []spec.Layer{
		{Files: []spec.File{{Src: "base/**", Dest: "/"}}},
		{
			Delete: []string{"/etc/motd", "/etc/conf", "/opt/app"},
			Clear:  []string{"/var/cache"},
			Files: []spec.File{
				{Src: "new/conf", Dest: "/etc/conf"},
				{Src: "new/cache/new", Dest: "/var/cache/"},
				{Src: "new/app/bin", Dest: "/opt/app/"},
			},
		},
	}
	img := empty.Image
	for i := range req.Spec.Layers {
		r := req
		r.Index = i
		bl, err := Build(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, bl.Layer); err != nil {
			t.Fatal(err)
		}
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, _ = mutate.ConfigFile(img, cf)
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	dir := t.TempDir()
	p, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "t"})); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle")
	if out, err := exec.Command("umoci", "unpack", "--rootless", "--image", filepath.Join(dir, "oci")+":t", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	rootfs := filepath.Join(bundle, "rootfs")
	var got []string
	filepath.Walk(rootfs, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == rootfs || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(rootfs, p)
		b, _ := os.ReadFile(p)
		got = append(got, rel+"="+string(b))
		return nil
	})
	sort.Strings(got)
	want := []string{"etc/conf=new", "etc/keep=keep", "opt/app/bin=bin", "var/cache/new=n"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("unpacked tree %v, want %v", got, want)
	}
}
