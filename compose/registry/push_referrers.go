package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// referrerJob is one referrer to list under its subject in one repository.
type referrerJob struct {
	repo    name.Repository
	subject v1.Hash
	desc    v1.Descriptor
}

// ReferrersTag is the tag of the referrers tag schema (OCI distribution
// spec 1.1) under which registries without the referrers API list the
// referrers of subject: "sha256-HEX".
func ReferrersTag(subject v1.Hash) string {
	return subject.Algorithm + "-" + subject.Hex
}

// pushReferrersTags makes every pushed referrer findable: registries with
// the referrers API index them on PUT; for the others the subject's
// referrers tag is updated (read, merged, written back only if it changed,
// so a repeated push writes nothing).
func (p *pusher) pushReferrersTags(ctx context.Context) error {
	type key struct{ repo, subject string }
	groups := map[key][]referrerJob{}
	var order []key
	for _, j := range p.referrers {
		k := key{j.repo.Name(), j.subject.String()}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], j)
	}
	for _, k := range order {
		jobs := groups[k]
		if err := p.updateReferrersTag(ctx, jobs[0].repo, jobs[0].subject, jobs); err != nil {
			return fmt.Errorf("%s: listing referrers of %s: %w", k.repo, short(jobs[0].subject), err)
		}
	}
	return nil
}

func (p *pusher) updateReferrersTag(ctx context.Context, repo name.Repository, subject v1.Hash, jobs []referrerJob) error {
	c, err := p.client(ctx, repo)
	if err != nil {
		return err
	}
	api, err := p.referrersAPI(ctx, c, repo, subject)
	if err != nil || api {
		return err
	}
	tag := ReferrersTag(subject)
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	// Read even in a new repository: another push of the same subject may
	// have written the tag since, and its referrers must be kept.
	raw, ok, err := c.getManifest(ctx, tag, string(types.OCIImageIndex))
	if err != nil {
		return err
	}
	if ok {
		if err := json.Unmarshal(raw, &idx); err != nil {
			return fmt.Errorf("parsing the referrers tag %s: %w", tag, err)
		}
		if idx.MediaType != types.OCIImageIndex {
			return fmt.Errorf("the referrers tag %s is a %s, not an OCI index", tag, idx.MediaType)
		}
	}
	changed := false
	for _, j := range jobs {
		if !slices.ContainsFunc(idx.Manifests, func(d v1.Descriptor) bool { return d.Digest == j.desc.Digest }) {
			idx.Manifests = append(idx.Manifests, j.desc)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	slices.SortFunc(idx.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	out, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := c.putManifest(ctx, tag, types.OCIImageIndex, out); err != nil {
		return err
	}
	p.opts.Progress(PushEvent{Kind: "tag", Repo: repo.Name(), Digest: subject.String(), Tag: repo.Tag(tag).Name(), Status: "referrers"})
	return nil
}

// referrersAPI reports whether repo's registry serves the referrers API,
// asking it once per push: the API is the registry's, so 20 images pushed
// to one registry need one probe, not 20.
func (p *pusher) referrersAPI(ctx context.Context, c *repoClient, repo name.Repository, subject v1.Hash) (bool, error) {
	reg := repo.RegistryStr()
	p.mu.Lock()
	api, known := p.refAPI[reg]
	p.mu.Unlock()
	if known {
		return api, nil
	}
	api, err := c.hasReferrersAPI(ctx, subject)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	if p.refAPI == nil {
		p.refAPI = map[string]bool{}
	}
	p.refAPI[reg] = api
	p.mu.Unlock()
	return api, nil
}

// hasReferrersAPI reports whether the registry serves the OCI 1.1 referrers
// API for the repository.
func (c *repoClient) hasReferrersAPI(ctx context.Context, subject v1.Hash) (bool, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("referrers/"+subject.String(), nil), nil, http.Header{"Accept": {string(types.OCIImageIndex)}})
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), string(types.OCIImageIndex)) {
		return true, nil
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusMethodNotAllowed {
		return false, nil
	}
	return false, transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}

// getManifest GETs the manifest ref names, or ok=false when there is none.
func (c *repoClient) getManifest(ctx context.Context, ref, accept string) ([]byte, bool, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("manifests/"+ref, nil), nil, http.Header{"Accept": {accept}})
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		return b, err == nil, err
	case http.StatusNotFound:
		return nil, false, nil
	}
	return nil, false, transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}
