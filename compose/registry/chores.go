package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// remoteOptions returns cfg's remote options with ctx added.
func remoteOptions(ctx context.Context, cfg TransportConfig) ([]remote.Option, error) {
	ropts, err := RemoteOptions(cfg)
	if err != nil {
		return nil, err
	}
	return append(ropts, remote.WithContext(ctx)), nil
}

// ListTags returns the tags of repo, sorted.
func ListTags(ctx context.Context, repo name.Repository, cfg TransportConfig) ([]string, error) {
	ropts, err := remoteOptions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(repo, ropts...)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo.Name(), err)
	}
	slices.Sort(tags)
	return tags, nil
}

// Inspection describes a manifest in a registry.
type Inspection struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
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
}

// Inspect fetches the manifest ref names (and an image's config) and
// describes it.
func Inspect(ctx context.Context, ref name.Reference, cfg TransportConfig) (*Inspection, error) {
	ropts, err := remoteOptions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref.Name(), err)
	}
	out := &Inspection{Reference: ref.Name(), Digest: desc.Digest.String(), MediaType: string(desc.MediaType), Size: desc.Size}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", ref.Name(), err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", ref.Name(), err)
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
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref.Name(), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref.Name(), err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: config: %w", ref.Name(), err)
	}
	out.Config = &InspectedConfig{
		Digest:     m.Config.Digest.String(),
		Platform:   (&v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}).String(),
		Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Env: cf.Config.Env,
		WorkingDir: cf.Config.WorkingDir, User: cf.Config.User, Labels: cf.Config.Labels,
	}
	if !cf.Created.IsZero() {
		out.Config.Created = cf.Created.UTC().Format("2006-01-02T15:04:05Z")
	}
	for _, l := range m.Layers {
		out.Layers = append(out.Layers, InspectedBlob{Digest: l.Digest.String(), MediaType: string(l.MediaType), Size: l.Size})
	}
	return out, nil
}

// ErrDeleteRefused is returned when a registry does not allow deletes.
var ErrDeleteRefused = errors.New("registry refuses deletes")

// Delete deletes the manifest ref names. A tag is first resolved to its
// digest and the manifest deleted by digest (on distribution this removes
// every tag pointing at it). It returns the deleted digest.
func Delete(ctx context.Context, ref name.Reference, cfg TransportConfig) (v1.Hash, error) {
	ropts, err := remoteOptions(ctx, cfg)
	if err != nil {
		return v1.Hash{}, err
	}
	d, ok := ref.(name.Digest)
	if !ok {
		desc, err := remote.Head(ref, ropts...)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("deleting %s: resolving tag: %w", ref.Name(), err)
		}
		d = ref.Context().Digest(desc.Digest.String())
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Delete(d, ropts...); err != nil {
		var te *transport.Error
		if errors.As(err, &te) && (te.StatusCode == http.StatusMethodNotAllowed || hasCode(te, transport.UnsupportedErrorCode)) {
			return v1.Hash{}, fmt.Errorf("deleting %s: %w: %s answered HTTP %d; enable deletes on the registry (distribution: storage.delete.enabled: true)",
				d.Name(), ErrDeleteRefused, ref.Context().RegistryStr(), te.StatusCode)
		}
		return v1.Hash{}, fmt.Errorf("deleting %s: %w", d.Name(), err)
	}
	return h, nil
}

func hasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}
