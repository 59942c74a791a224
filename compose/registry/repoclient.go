package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// repoClient speaks the distribution protocol to one repository with a
// transport authenticated for push (and pull of the repositories blobs may be
// mounted from).
type repoClient struct {
	repo   name.Repository
	client *http.Client
	base   *url.URL // scheme://registry/v2/REPO/
}

// newRepoClient authenticates against repo's registry. from lists
// repositories of the same registry that blobs may be mounted from.
func newRepoClient(ctx context.Context, cfg TransportConfig, rt http.RoundTripper, repo name.Repository, from []name.Repository) (*repoClient, error) {
	reg := cfg.registry(repo.Registry)
	auth, err := authn.Resolve(ctx, cfg.Keychain, reg)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", reg.RegistryStr(), err)
	}
	scopes := []string{repo.Scope(transport.PushScope)}
	for _, f := range from {
		scopes = append(scopes, f.Scope(transport.PullScope))
	}
	t, err := transport.NewWithContext(ctx, reg, auth, rt, scopes)
	if err != nil {
		return nil, fmt.Errorf("%s: authenticating: %w", reg.RegistryStr(), err)
	}
	// The transport rewrites the scheme to what ggcr's ping settled on.
	scheme := reg.Scheme()
	base := &url.URL{Scheme: scheme, Host: reg.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/"}
	return &repoClient{repo: repo, client: &http.Client{Transport: t, CheckRedirect: checkRedirect}, base: base}, nil
}

// checkRedirect refuses redirects to another host given as a private,
// loopback or link-local IP literal (SSRF) and any redirect of a write to
// another host, and stops after 10 hops. A name
// on another host is checked when it is dialled (see guardDial): the
// address it resolves to then decides.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	// What is written stays on the registry: a PUT, POST, PATCH or DELETE
	// is never sent on to another host.
	if m := via[0].Method; m != http.MethodGet && m != http.MethodHead && !sameHost(via[0].URL, req.URL) {
		return fmt.Errorf("refusing to follow a %s redirect to another host %s", m, hostOnly(req.URL.Host))
	}
	return checkLocation(via[0].URL, req.URL)
}

// checkLocation refuses a redirect location on a different host that is an
// IP literal in a private, loopback or link-local range.
func checkLocation(from, to *url.URL) error {
	if sameHost(from, to) {
		return nil
	}
	if ip := net.ParseIP(hostOnly(to.Host)); ip != nil && privateIP(ip) {
		return fmt.Errorf("refusing location on another host %s (private address)", hostOnly(to.Host))
	}
	return nil
}

// sameHost reports whether a and b name the same host and port, a missing
// port being the scheme's default.
func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "443"
	if u.Scheme == "http" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (c *repoClient) url(p string, q url.Values) *url.URL {
	u := c.base.ResolveReference(&url.URL{Path: p})
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u
}

func (c *repoClient) do(ctx context.Context, method string, u *url.URL, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return c.client.Do(req)
}

// headBlob reports whether the repository has blob h.
func (c *repoClient) headBlob(ctx context.Context, h v1.Hash) (bool, error) {
	resp, err := c.do(ctx, http.MethodHead, c.url("blobs/"+h.String(), nil), nil, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}

// startUpload POSTs a new upload, asking to mount h from the repository from
// when it is set. It returns mounted=true when the registry mounted the blob,
// else the upload location.
func (c *repoClient) startUpload(ctx context.Context, h v1.Hash, from string) (bool, *url.URL, error) {
	var q url.Values
	if from != "" {
		q = url.Values{"mount": {h.String()}, "from": {from}}
	}
	resp, err := c.do(ctx, http.MethodPost, c.url("blobs/uploads/", q), nil, nil)
	if err != nil {
		return false, nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		if from != "" {
			return true, nil, nil
		}
	case http.StatusAccepted:
		loc, err := c.location(resp)
		return false, loc, err
	}
	return false, nil, transport.CheckError(resp, http.StatusCreated, http.StatusAccepted)
}

// location resolves and checks a response's Location header.
func (c *repoClient) location(resp *http.Response) (*url.URL, error) {
	l := resp.Header.Get("Location")
	if l == "" {
		return nil, errors.New("registry sent no upload location")
	}
	u, err := resp.Request.URL.Parse(l)
	if err != nil {
		return nil, fmt.Errorf("bad upload location: %w", err)
	}
	// An upload stays on the registry: a Location on another host or port
	// (by name or address) or one dropping TLS is refused before any byte
	// is sent there.
	reg := *c.base
	reg.Scheme = resp.Request.URL.Scheme // the scheme the transport settled on
	if !sameHost(&reg, u) || (resp.Request.URL.Scheme == "https" && u.Scheme != "https") {
		return nil, fmt.Errorf("refusing upload location on another host %s: uploads must stay on the registry %s", u.Host, c.base.Host)
	}
	return u, nil
}

// patch streams body to the upload at loc and returns the next location.
func (c *repoClient) patch(ctx context.Context, loc *url.URL, body io.Reader, size int64) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc.String(), io.NopCloser(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.ContentLength = size
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusNoContent, http.StatusAccepted, http.StatusCreated); err != nil {
		return nil, err
	}
	return c.location(resp)
}

// commit finishes the upload at loc as blob h.
func (c *repoClient) commit(ctx context.Context, loc *url.URL, h v1.Hash) error {
	return c.putBlob(ctx, loc, h, nil)
}

// putBlob finishes the upload at loc as blob h, sending data (all of the
// blob, or what the PATCHes did not send) with the PUT. The bytes are sent
// once, as a PATCH's are: the request is not replayed by the transport
// (the upload location may be spent by then; the caller starts a new
// upload) and no redirect takes it elsewhere.
func (c *repoClient) putBlob(ctx context.Context, loc *url.URL, h v1.Hash, data []byte) error {
	u := *loc
	q := u.Query()
	q.Set("digest", h.String())
	u.RawQuery = q.Encode()
	var resp *http.Response
	var err error
	if len(data) == 0 {
		resp, err = c.do(ctx, http.MethodPut, &u, http.NoBody, nil)
	} else {
		var req *http.Request
		if req, err = http.NewRequestWithContext(ctx, http.MethodPut, u.String(), io.NopCloser(bytes.NewReader(data))); err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.ContentLength = int64(len(data))
		resp, err = c.client.Do(req)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return transport.CheckError(resp, http.StatusCreated)
}

// cancelUpload asks the registry to drop the upload at loc, best effort:
// registries expire abandoned uploads anyway.
func (c *repoClient) cancelUpload(ctx context.Context, loc *url.URL) {
	if resp, err := c.do(ctx, http.MethodDelete, loc, nil, nil); err == nil {
		resp.Body.Close()
	}
}

// manifestAccept lists the manifest media types strata reads.
var manifestAccept = strings.Join([]string{
	string(types.OCIManifestSchema1), string(types.OCIImageIndex),
	string(types.DockerManifestSchema2), string(types.DockerManifestList),
}, ",")

// headManifest returns the digest ref (a tag) points at, or ok=false when
// the registry does not know it.
func (c *repoClient) headManifest(ctx context.Context, ref string) (v1.Hash, bool, error) {
	resp, err := c.do(ctx, http.MethodHead, c.url("manifests/"+ref, nil), nil, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return v1.Hash{}, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		h, err := v1.NewHash(resp.Header.Get("Docker-Content-Digest"))
		if err != nil {
			return v1.Hash{}, false, fmt.Errorf("registry sent no valid Docker-Content-Digest for %s", ref)
		}
		return h, true, nil
	case http.StatusNotFound:
		return v1.Hash{}, false, nil
	}
	return v1.Hash{}, false, transport.CheckError(resp, http.StatusOK, http.StatusNotFound)
}

// maxManifestBytes bounds a manifest read back from a registry (registries
// refuse manifests over 4 MiB).
const maxManifestBytes = 4 << 20

// manifestDigest GETs the manifest ref names and returns the digest of the
// bytes received, whatever Docker-Content-Digest says.
func (c *repoClient) manifestDigest(ctx context.Context, ref string) (v1.Hash, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("manifests/"+ref, nil), nil, http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return v1.Hash{}, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return v1.Hash{}, err
	}
	h, n, err := v1.SHA256(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil {
		return v1.Hash{}, err
	}
	if n > maxManifestBytes {
		return v1.Hash{}, fmt.Errorf("manifest %s is larger than %d bytes", ref, maxManifestBytes)
	}
	return h, nil
}

// putManifest PUTs a manifest under ref (a digest or a tag).
func (c *repoClient) putManifest(ctx context.Context, ref string, mt types.MediaType, raw []byte) error {
	resp, err := c.do(ctx, http.MethodPut, c.url("manifests/"+ref, nil), bytes.NewReader(raw), http.Header{"Content-Type": {string(mt)}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return transport.CheckError(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted)
}
