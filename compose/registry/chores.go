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

// Inspect fetches the manifest ref names (and an image's config) and
// describes it. It is InspectLocation for a registry reference.
func Inspect(ctx context.Context, ref name.Reference, cfg TransportConfig) (*Inspection, error) {
	return InspectLocation(ctx, Location{Kind: "registry", Ref: ref, raw: ref.Name()}, InspectOptions{Transport: cfg})
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
