package compose

// TEMPORARY stand-ins for the parts other helpers implement (resolveBase,
// buildLayer, writeLayout, writeTarball). Deleted when their branches land on
// main.

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/strata-build/strata/spec"
)

type platformBase struct {
	Platform spec.Platform
	Image    v1.Image
	Digest   v1.Hash
}

type resolvedBase struct {
	Name      string
	Platforms []platformBase
	Repo      *name.Repository
}

func resolveBase(ctx context.Context, base string, want []spec.Platform, o *options) (*resolvedBase, error) {
	if base == "scratch" {
		if len(want) == 0 {
			want = []spec.Platform{{OS: "linux", Architecture: "amd64"}}
		}
		rb := &resolvedBase{}
		for _, p := range want {
			rb.Platforms = append(rb.Platforms, platformBase{Platform: p, Image: empty.Image})
		}
		return rb, nil
	}
	img, idx, err := o.baseResolver(ctx, base)
	if err != nil {
		return nil, err
	}
	ref, _ := name.ParseReference(base)
	repo := ref.Context()
	rb := &resolvedBase{Name: ref.Name(), Repo: &repo}
	if img != nil {
		cf, _ := img.ConfigFile()
		d, _ := img.Digest()
		p := spec.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		rb.Platforms = []platformBase{{Platform: p, Image: img, Digest: d}}
		return rb, nil
	}
	im, _ := idx.IndexManifest()
	all := map[spec.Platform]v1.Hash{}
	for _, m := range im.Manifests {
		p := spec.Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}
		all[p] = m.Digest
		if len(want) == 0 {
			i, _ := idx.Image(m.Digest)
			rb.Platforms = append(rb.Platforms, platformBase{Platform: p, Image: i, Digest: m.Digest})
		}
	}
	for _, p := range want {
		d, ok := all[p]
		if !ok {
			return nil, fmt.Errorf("base has no platform %s", p)
		}
		i, _ := idx.Image(d)
		rb.Platforms = append(rb.Platforms, platformBase{Platform: p, Image: i, Digest: d})
	}
	return rb, nil
}

func buildLayer(ctx context.Context, req layerRequest) (*builtLayer, error) {
	l := req.Spec.Layers[req.Index]
	bl := &builtLayer{Name: l.Name}
	if bl.Name == "" {
		bl.Name = fmt.Sprintf("layer-%d", req.Index)
	}
	type ent struct {
		hdr  tar.Header
		data []byte
	}
	var ents []ent
	for _, d := range l.Delete {
		t, _ := spec.NormalizeTarget(d)
		ents = append(ents, ent{hdr: tar.Header{Name: path.Join(path.Dir(t), ".wh."+path.Base(t)), Typeflag: tar.TypeReg, ModTime: req.Created}})
	}
	for _, f := range l.Files {
		src := spec.ExpandPlatform(f.Src, req.Platform)
		data, err := req.Root.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("layer %q: file %s: %w", bl.Name, src, err)
		}
		dest := f.Dest
		if strings.HasSuffix(dest, "/") {
			dest += path.Base(src)
		}
		t, _ := spec.NormalizeTarget(dest)
		mode := int64(0o644)
		if f.Mode != "" {
			mode, _ = spec.ParseMode(f.Mode)
		}
		ents = append(ents, ent{hdr: tar.Header{Name: t, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)), ModTime: req.Created}, data: data})
	}
	if len(ents) == 0 {
		return bl, nil
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].hdr.Name < ents[j].hdr.Name })
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, 6)
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		h := e.hdr
		tw.WriteHeader(&h)
		tw.Write(e.data)
		bl.Entries = append(bl.Entries, Entry{Target: "/" + h.Name, Type: "file", Size: h.Size})
	}
	tw.Close()
	zw.Close()
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	bl.Layer = layer
	return bl, nil
}

func writeLayout(ctx context.Context, dir string, a Artifact, refName string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	opt := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": refName})
	if a.Index != nil {
		return p.AppendIndex(a.Index, opt)
	}
	return p.AppendImage(a.Image, opt)
}

func writeTarball(ctx context.Context, path string, a Artifact, refs []name.Tag) error {
	m := map[name.Reference]v1.Image{}
	for _, r := range refs {
		m[r] = a.Image
	}
	return tarball.MultiRefWriteToFile(path, m)
}
