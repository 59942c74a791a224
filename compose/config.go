package compose

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/base"
	"github.com/strata-build/strata/compose/diff"
	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/spec"
)

// Annotation keys strata sets on every image manifest whose base is not
// scratch. They record facts, so a spec annotation of the same key is
// overridden.
const (
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// ConfigChange is one config field that differs from the base's config
// (Base is the base's value, New the built image's). Values are rendered as
// text: strings as they are, lists and sets as JSON, and "" for unset.
type ConfigChange = diff.ConfigChange

// assemble appends a platform's built layers to its base and applies the
// spec's config, history and annotations. Layers are taken in spec order.
func assemble(s *spec.Spec, baseName string, pb base.PlatformImage, layers []*layer.Built, o *options) (v1.Image, *PlatformResult, error) {
	img := pb.Image
	if img == nil {
		img = empty.Image
	}
	baseCfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("reading base config: %w", err)
	}
	if baseCfg == nil {
		baseCfg = &v1.ConfigFile{}
	}
	pr := &PlatformResult{Platform: pb.Platform, BaseDigest: pb.Digest}

	adds := make([]mutate.Addendum, 0, len(layers))
	for i, bl := range layers {
		name := layerName(s, i, bl)
		parts := bl.Emitted()
		if len(parts) == 0 {
			pr.Skipped = append(pr.Skipped, name)
			continue
		}
		for k, part := range parts {
			pname := name
			if bl.Parts != nil {
				pname = fmt.Sprintf("%s (part %d of %d)", name, k+1, len(parts))
			}
			lr, err := describeLayer(pname, part)
			if err != nil {
				return nil, nil, fmt.Errorf("layer %q: %w", pname, err)
			}
			// plainLayer hides any Descriptor method, so the manifest
			// descriptor is built from digest, size and media type only.
			var layer v1.Layer = plainLayer{part.Layer}
			if lb, ok := part.Layer.(oci.LocalBlob); ok {
				layer = localPlainLayer{plainLayer{part.Layer}, lb}
			}
			adds = append(adds, mutate.Addendum{
				Layer:     layer,
				History:   v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "strata: layer " + pname},
				MediaType: types.MediaType(lr.MediaType),
			})
			pr.Layers = append(pr.Layers, lr)
		}
	}
	if len(adds) > 0 {
		if img, err = mutate.Append(img, adds...); err != nil {
			return nil, nil, fmt.Errorf("appending layers: %w", err)
		}
	}

	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Config = mergeConfig(baseCfg.Config, s.Config)
	cf.Created = v1.Time{Time: o.created}
	cf.OS = pb.Platform.OS
	cf.Architecture = pb.Platform.Architecture
	cf.Variant = pb.Platform.Variant
	if cf.RootFS.Type == "" {
		cf.RootFS.Type = "layers"
	}
	pr.Changes = diffConfig(baseCfg, cf)

	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, nil, fmt.Errorf("setting config: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if anns := annotations(s, baseName, pb.Digest); len(anns) > 0 {
		img = mutate.Annotations(img, anns).(v1.Image)
	}
	// One media type family per manifest: a Docker-typed base's layer
	// descriptors become OCI ones (same bytes, same digests).
	if img, err = oci.Family(img); err != nil {
		return nil, nil, err
	}

	if pr.Digest, err = img.Digest(); err != nil {
		return nil, nil, fmt.Errorf("computing image digest: %w", err)
	}
	if pr.ConfigDigest, err = img.ConfigName(); err != nil {
		return nil, nil, fmt.Errorf("computing config digest: %w", err)
	}
	return img, pr, nil
}

// plainLayer exposes only the v1.Layer methods of a layer.
type plainLayer struct{ v1.Layer }

// localPlainLayer is a plainLayer whose blob is a local file
// (oci.LocalBlob): output sinks hard-link it instead of copying.
type localPlainLayer struct {
	plainLayer
	local oci.LocalBlob
}

// BlobPath returns the local blob's path.
func (l localPlainLayer) BlobPath(ctx context.Context) (string, error) { return l.local.BlobPath(ctx) }

var _ oci.LocalBlob = localPlainLayer{}

// describeLayer reads a built layer's digests and size. Docker gzip layers
// are recorded with the OCI media type (same bytes).
func describeLayer(name string, bl layer.Part) (LayerResult, error) {
	lr := LayerResult{Name: name, Entries: bl.Entries, Cached: bl.Cached, Registry: bl.Registry, Key: bl.Key}
	var err error
	if lr.DiffID, err = bl.Layer.DiffID(); err != nil {
		return lr, fmt.Errorf("diffID: %w", err)
	}
	if lr.Digest, err = bl.Layer.Digest(); err != nil {
		return lr, fmt.Errorf("digest: %w", err)
	}
	if lr.Size, err = bl.Layer.Size(); err != nil {
		return lr, fmt.Errorf("size: %w", err)
	}
	mt, err := bl.Layer.MediaType()
	if err != nil {
		return lr, fmt.Errorf("media type: %w", err)
	}
	switch mt {
	case "", types.DockerLayer:
		mt = types.OCILayer
	case types.DockerUncompressedLayer:
		mt = types.OCIUncompressedLayer
	}
	lr.MediaType = string(mt)
	return lr, nil
}

// mergeConfig applies the spec's config over the base's:
//   - entrypoint replaces the base's and clears its cmd, unless cmd is given;
//   - cmd replaces the base's (an empty list clears it);
//   - env is merged by key: base order kept, changed values in place, new
//     keys appended in sorted order;
//   - workdir, user and stopSignal replace the base's when set;
//   - labels are merged by key; ports and volumes are added to the base's.
func mergeConfig(base v1.Config, c spec.Config) v1.Config {
	out := base
	if c.Entrypoint != nil {
		out.Entrypoint = slices.Clone(c.Entrypoint)
		out.Cmd = nil
	}
	if c.Cmd != nil {
		out.Cmd = slices.Clone(c.Cmd)
	}
	out.Env = mergeEnv(base.Env, c.Env)
	if c.Workdir != "" {
		out.WorkingDir = c.Workdir
	}
	if c.User != "" {
		out.User = c.User
	}
	if c.StopSignal != "" {
		out.StopSignal = c.StopSignal
	}
	if len(c.Labels) > 0 {
		out.Labels = maps.Clone(base.Labels)
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		maps.Copy(out.Labels, c.Labels)
	}
	if len(c.Ports) > 0 {
		out.ExposedPorts = maps.Clone(base.ExposedPorts)
		if out.ExposedPorts == nil {
			out.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			out.ExposedPorts[normalizePort(p)] = struct{}{}
		}
	}
	if len(c.Volumes) > 0 {
		out.Volumes = maps.Clone(base.Volumes)
		if out.Volumes == nil {
			out.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			out.Volumes[v] = struct{}{}
		}
	}
	return out
}

// normalizePort adds the default protocol: "80" → "80/tcp".
func normalizePort(p string) string {
	if !strings.Contains(p, "/") {
		return p + "/tcp"
	}
	return p
}

// mergeEnv merges env over the base's KEY=VALUE list: base order is kept,
// keys the spec sets get its value in place, new keys follow in sorted order.
func mergeEnv(base []string, env map[string]string) []string {
	if len(env) == 0 {
		return slices.Clone(base)
	}
	out := make([]string, 0, len(base)+len(env))
	seen := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := env[k]; ok {
			out = append(out, k+"="+v)
			seen[k] = true
			continue
		}
		out = append(out, kv)
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if !seen[k] {
			out = append(out, k+"="+env[k])
		}
	}
	return out
}

// annotations returns the manifest annotations: the spec's, plus the base's
// name and digest when there is a base.
func annotations(s *spec.Spec, baseName string, baseDigest v1.Hash) map[string]string {
	out := maps.Clone(s.Annotations)
	if baseName == "" && baseDigest == (v1.Hash{}) {
		return out
	}
	if out == nil {
		out = map[string]string{}
	}
	if baseName != "" {
		out[AnnotationBaseName] = baseName
	}
	if baseDigest != (v1.Hash{}) {
		out[AnnotationBaseDigest] = baseDigest.String()
	}
	return out
}

// diffConfig lists the fields of the new config that differ from the base's,
// in a fixed order (map keys sorted).
func diffConfig(base, cur *v1.ConfigFile) []ConfigChange {
	return diff.Config(base, cur)
}
