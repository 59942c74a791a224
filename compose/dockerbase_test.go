package compose

// Bases with Docker media types (issue 8, point 1): the composed manifest
// uses one family, OCI, throughout; the base's layers keep their bytes and
// digests, only their descriptors' media types change. umoci unpacks the
// result from --oci output and after skopeo copies it from a registry.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
)

// dockerIndex is a Docker manifest list of Docker-typed images.
func dockerIndex(t *testing.T, plats ...spec.Platform) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	for i, p := range plats {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: fixture.Image(t, p, int64(70+i), false),
			Descriptor: v1.Descriptor{
				MediaType: types.DockerManifestSchema2,
				Platform:  &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
			},
		})
	}
	return idx
}

func TestDockerTypedBases(t *testing.T) {
	amd64, arm64 := fixture.Platform(t, "linux/amd64"), fixture.Platform(t, "linux/arm64")
	single := fixture.Image(t, amd64, 7, false)
	multi := dockerIndex(t, amd64, arm64)
	if mt, _ := single.MediaType(); mt != types.DockerManifestSchema2 {
		t.Fatalf("fixture base media type %s, want Docker's", mt)
	}

	reg := fixture.NewRegistry(t)
	reg.Push(t, "lib/docker:single", single)
	reg.Push(t, "lib/docker:multi", multi)
	reg.Push(t, "lib/oci:multi", fixture.Index(t, amd64, arm64))

	layoutDir := filepath.Join(t.TempDir(), "base-layout")
	lp, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(single, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "single"})); err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(multi, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "multi"})); err != nil {
		t.Fatal(err)
	}

	archive := filepath.Join(t.TempDir(), "base.tar")
	tag, err := name.NewTag("lib/docker:single")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(archive, tag, single); err != nil {
		t.Fatal(err)
	}

	ctxDir := t.TempDir()
	fixture.WriteTree(t, ctxDir, map[string]string{"hello.txt": "hello\n"})
	for _, tc := range []struct {
		name, base string
		platforms  []string
	}{
		{"registry-single", reg.Host + "/lib/docker:single", nil},
		{"registry-multi", reg.Host + "/lib/docker:multi", nil},
		{"layout-single", "oci:" + layoutDir + ":single", nil},
		{"layout-multi", "oci:" + layoutDir + ":multi", nil},
		{"archive-single", "docker-archive:" + archive, nil},
		// A control: an OCI-typed base goes through the same checks.
		{"ocibase-multi", reg.Host + "/lib/oci:multi", []string{"linux/amd64", "linux/arm64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &spec.Spec{Base: tc.base, Context: ctxDir, Platforms: tc.platforms,
				Layers: []spec.Layer{{Files: []spec.File{{Src: "hello.txt", Dest: "/hello.txt"}}}}}
			res, err := Build(context.Background(), s, t.TempDir(), WithRemote(remote.WithTransport(reg.Transport)))
			if err != nil {
				t.Fatal(err)
			}
			// Build twice: the same digest.
			again, err := Build(context.Background(), s, t.TempDir(), WithRemote(remote.WithTransport(reg.Transport)))
			if err != nil || again.Digest != res.Digest {
				t.Fatalf("second build: %v, digest %s want %s", err, again.Digest, res.Digest)
			}
			var imgs []v1.Image
			if res.Artifact.Index != nil {
				if err := validate.Index(res.Artifact.Index); err != nil {
					t.Fatalf("validate index: %v", err)
				}
				im, _ := res.Artifact.Index.IndexManifest()
				for _, d := range im.Manifests {
					img, err := res.Artifact.Index.Image(d.Digest)
					if err != nil {
						t.Fatal(err)
					}
					imgs = append(imgs, img)
				}
			} else {
				imgs = []v1.Image{res.Artifact.Image}
			}
			for i, img := range imgs {
				if err := validate.Image(img); err != nil {
					t.Fatalf("validate image %d: %v", i, err)
				}
				checkOneFamily(t, img)
			}

			out := filepath.Join(t.TempDir(), "out")
			if err := WriteOutputs(context.Background(), res, Outputs{LayoutDir: out, LayoutRefs: []string{"v1"}}); err != nil {
				t.Fatal(err)
			}
			// umoci unpacks the --oci output (it unpacks the host's
			// platform of an index; every platform is checked above).
			if res.Artifact.Index == nil {
				unpackAndCheck(t, out+":v1")
			}

			// Pushed to a registry, skopeo copies each image back into a
			// layout, keeping its digest, and umoci unpacks that too.
			ref := reg.Host + "/out/" + tc.name
			pushArtifact(t, ref+":v1", res)
			copied := filepath.Join(t.TempDir(), "copied")
			for i, img := range imgs {
				d, _ := img.Digest()
				tag := fmt.Sprintf("p%d", i)
				run(t, "skopeo", "copy", "--src-tls-verify=false", "--preserve-digests", "docker://"+ref+"@"+d.String(), "oci:"+copied+":"+tag)
				var insp struct{ Digest string }
				if err := json.Unmarshal([]byte(run(t, "skopeo", "inspect", "oci:"+copied+":"+tag)), &insp); err != nil {
					t.Fatal(err)
				}
				if insp.Digest != d.String() {
					t.Errorf("skopeo copied %s as %s", d, insp.Digest)
				}
				unpackAndCheck(t, copied+":"+tag)
			}
		})
	}
}

// checkOneFamily fails unless every descriptor of img's manifest uses an OCI
// media type, while the layers keep their digests.
func checkOneFamily(t *testing.T, img v1.Image) {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "vnd.docker") {
		t.Errorf("manifest mixes media type families:\n%s", raw)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s, config %s; want OCI", m.MediaType, m.Config.MediaType)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		d, _ := l.Digest()
		mt, _ := l.MediaType()
		if d != m.Layers[i].Digest || mt != m.Layers[i].MediaType {
			t.Errorf("layer %d: %s %s, manifest says %s %s", i, d, mt, m.Layers[i].Digest, m.Layers[i].MediaType)
		}
	}
}

// unpackAndCheck unpacks image (DIR:TAG or DIR@DIGEST) with umoci and checks
// the added file is there beside the base's files.
func unpackAndCheck(t *testing.T, image string) {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, "umoci", "unpack", "--rootless", "--image", image, bundle)
	if b, err := os.ReadFile(filepath.Join(bundle, "rootfs", "hello.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("%s: hello.txt = %q, %v", image, b, err)
	}
	ents, err := os.ReadDir(filepath.Join(bundle, "rootfs"))
	if err != nil || len(ents) < 2 {
		t.Errorf("%s: rootfs holds %d entries, want the base's files too (%v)", image, len(ents), err)
	}
}

// pushArtifact writes a built artifact to ref with ggcr.
func pushArtifact(t *testing.T, ref string, res *Result) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if res.Artifact.Index != nil {
		err = remote.WriteIndex(tag, res.Artifact.Index)
	} else {
		err = remote.Write(tag, res.Artifact.Image)
	}
	if err != nil {
		t.Fatal(err)
	}
}
