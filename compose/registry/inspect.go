package registry

import (
	"context"
	"fmt"
	"os"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose/oci"
)

// Inspection describes a manifest: in a registry, an OCI layout or a
// docker archive.
type Inspection struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	// Annotations are the manifest's (or the index's) annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Manifests lists an index's children.
	Manifests []InspectedChild `json:"manifests,omitempty"`
	// Config and Layers describe an image.
	Config *InspectedConfig `json:"config,omitempty"`
	Layers []InspectedBlob  `json:"layers,omitempty"`
}

// InspectedChild is one entry of an index.
type InspectedChild struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	Platform  string `json:"platform,omitempty"`
}

// InspectedBlob is a layer descriptor.
type InspectedBlob struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// InspectedConfig is an image's config blob and the fields people look for.
type InspectedConfig struct {
	Digest     string            `json:"digest"`
	Platform   string            `json:"platform"`
	Created    string            `json:"created,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	User       string            `json:"user,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Ports and Volumes are sorted.
	Ports      []string `json:"ports,omitempty"`
	Volumes    []string `json:"volumes,omitempty"`
	StopSignal string   `json:"stopSignal,omitempty"`
}

// InspectOptions are the optional settings of InspectLocation.
type InspectOptions struct {
	// Transport is the registry access policy, for registry locations.
	Transport TransportConfig
	// CacheDir holds the decompressed copy of a gzip docker archive; ""
	// means a temporary directory, removed afterwards.
	CacheDir string
}

// InspectLocation describes the image or index at l (a registry reference,
// oci:DIR[:tag|@digest] or docker-archive:FILE): its digest, media type,
// size and annotations; an index's children; an image's config and layers.
// Nothing is downloaded but manifests and the config.
func InspectLocation(ctx context.Context, l Location, o InspectOptions) (*Inspection, error) {
	if o.CacheDir == "" && l.Kind == "docker-archive" {
		tmp, err := os.MkdirTemp("", "strata-inspect-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		o.CacheDir = tmp
	}
	art, err := inspectRead(ctx, l, o)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", l, err)
	}
	ins, err := describe(l.String(), art)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", l, err)
	}
	return ins, nil
}

// inspectRead opens the artifact at l.
func inspectRead(ctx context.Context, l Location, o InspectOptions) (oci.Artifact, error) {
	if l.Kind != "registry" {
		return oci.Read(ctx, l.loc, o.CacheDir)
	}
	ropts, err := remoteOptions(ctx, o.Transport)
	if err != nil {
		return oci.Artifact{}, err
	}
	desc, err := remote.Get(l.Ref, ropts...)
	if err != nil {
		return oci.Artifact{}, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		return oci.Artifact{Index: idx}, err
	}
	img, err := desc.Image()
	return oci.Artifact{Image: img}, err
}

// describe builds the Inspection of art.
func describe(ref string, art oci.Artifact) (*Inspection, error) {
	d, err := art.Digest()
	if err != nil {
		return nil, err
	}
	out := &Inspection{Reference: ref, Digest: d.String()}
	if idx := art.Index; idx != nil {
		raw, err := idx.RawManifest()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		out.MediaType, out.Size, out.Annotations = string(im.MediaType), int64(len(raw)), im.Annotations
		if mt, err := idx.MediaType(); err == nil && mt != "" {
			out.MediaType = string(mt)
		}
		for _, m := range im.Manifests {
			c := InspectedChild{Digest: m.Digest.String(), MediaType: string(m.MediaType), Size: m.Size}
			if m.Platform != nil {
				c.Platform = m.Platform.String()
			}
			out.Manifests = append(out.Manifests, c)
		}
		return out, nil
	}
	img := art.Image
	raw, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	out.MediaType, out.Size, out.Annotations = string(mt), int64(len(raw)), m.Annotations
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c := cf.Config
	out.Config = &InspectedConfig{
		Digest:     m.Config.Digest.String(),
		Platform:   (&v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}).String(),
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env,
		WorkingDir: c.WorkingDir, User: c.User, Labels: c.Labels, StopSignal: c.StopSignal,
	}
	for p := range c.ExposedPorts {
		out.Config.Ports = append(out.Config.Ports, p)
	}
	slices.Sort(out.Config.Ports)
	for v := range c.Volumes {
		out.Config.Volumes = append(out.Config.Volumes, v)
	}
	slices.Sort(out.Config.Volumes)
	if !cf.Created.IsZero() {
		out.Config.Created = cf.Created.UTC().Format("2006-01-02T15:04:05Z")
	}
	for _, l := range m.Layers {
		out.Layers = append(out.Layers, InspectedBlob{Digest: l.Digest.String(), MediaType: string(l.MediaType), Size: l.Size})
	}
	return out, nil
}

// LocalTags returns the tags of a local location (oci: or docker-archive:;
// see oci.Tags), sorted. Registry repositories are listed by ListTags.
func LocalTags(ctx context.Context, l Location, o InspectOptions) ([]string, error) {
	if l.Kind == "registry" {
		return nil, fmt.Errorf("listing tags of %s: not a local location", l)
	}
	if o.CacheDir == "" && l.Kind == "docker-archive" {
		tmp, err := os.MkdirTemp("", "strata-tags-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		o.CacheDir = tmp
	}
	return oci.Tags(ctx, l.loc, o.CacheDir)
}
