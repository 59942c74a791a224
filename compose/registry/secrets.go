package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Secrets collects the secret values strata obtained while talking to
// registries (passwords, identity and registry tokens from the keychain,
// every credential sent in an Authorization header, the output of a
// failing credential helper) so that messages can be scrubbed of them by
// value, whatever shape a registry echoes them in. It is safe for
// concurrent use; a nil *Secrets collects nothing and Redact on it is
// Redact.
type Secrets struct {
	mu   sync.Mutex
	vals map[string]bool
	list []string // longest first; rebuilt on Add
}

// NewSecrets returns an empty collection.
func NewSecrets() *Secrets { return &Secrets{vals: map[string]bool{}} }

// minSecret is the shortest value scrubbed by value: shorter ones would
// scrub ordinary words. Shape-based scrubbing (Redact) still applies.
const minSecret = 4

// Add records v and its common encodings (base64, URL query escaping).
func (s *Secrets) Add(v string) {
	if s == nil || len(v) < minSecret {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, f := range []string{
		v,
		base64.StdEncoding.EncodeToString([]byte(v)),
		base64.RawStdEncoding.EncodeToString([]byte(v)),
		base64.URLEncoding.EncodeToString([]byte(v)),
		base64.RawURLEncoding.EncodeToString([]byte(v)),
		url.QueryEscape(v),
		url.PathEscape(v),
		strings.Trim(strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `"`, `\"`), " "),
	} {
		if len(f) >= minSecret && !s.vals[f] {
			s.vals[f] = true
			changed = true
		}
	}
	if changed {
		s.list = s.list[:0]
		for f := range s.vals {
			s.list = append(s.list, f)
		}
		sort.Slice(s.list, func(i, j int) bool {
			if len(s.list[i]) != len(s.list[j]) {
				return len(s.list[i]) > len(s.list[j])
			}
			return s.list[i] < s.list[j]
		})
	}
}

// addAuthConfig records the secret fields of a credential.
func (s *Secrets) addAuthConfig(c *authn.AuthConfig) {
	if s == nil || c == nil {
		return
	}
	s.Add(c.Password)
	s.Add(c.Auth)
	s.Add(c.IdentityToken)
	s.Add(c.RegistryToken)
	if c.Username != "" && c.Password != "" {
		s.Add(c.Username + ":" + c.Password)
	}
}

// addAuthorization records the credential of an Authorization header.
func (s *Secrets) addAuthorization(h string) {
	if s == nil || h == "" {
		return
	}
	scheme, v, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		s.Add(h)
		return
	}
	v = strings.TrimSpace(v)
	s.Add(v)
	if strings.EqualFold(scheme, "basic") {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			if _, pass, ok := strings.Cut(string(b), ":"); ok {
				s.Add(pass)
			}
			s.Add(string(b))
		}
	}
}

// Redact scrubs text as the package function Redact does, then replaces
// every collected secret, in any of its recorded encodings, by REDACTED.
func (s *Secrets) Redact(text string) string {
	text = Redact(text)
	if s == nil {
		return text
	}
	s.mu.Lock()
	list := s.list
	s.mu.Unlock()
	for _, v := range list {
		text = strings.ReplaceAll(text, v, redacted)
	}
	return text
}

// helperOutRE finds the output a failing docker credential helper printed,
// as docker-credential-helpers quotes it in its errors.
var helperOutRE = regexp.MustCompile("(?s)(, out: )`(.*)`")

// scrubHelperError records what a failing credential helper printed as a
// secret and removes it from err's message.
func (s *Secrets) scrubHelperError(err error) error {
	msg := err.Error()
	m := helperOutRE.FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	for _, line := range strings.Split(m[2], "\n") {
		s.Add(strings.TrimSpace(line))
	}
	return &scrubbedError{msg: helperOutRE.ReplaceAllString(msg, "${1}(the helper's output is not shown)"), err: err}
}

// scrubbedError is err with a message free of secrets; errors.Is/As still
// see err.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// recordingKeychain records every credential it hands out in secrets and
// gives up on a credential helper that outlives the context (the helper
// library starts it without one).
type recordingKeychain struct {
	inner   authn.Keychain
	secrets *Secrets
}

var (
	_ authn.ContextKeychain      = recordingKeychain{}
	_ authn.ContextAuthenticator = recordingAuth{}
)

func (k recordingKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

func (k recordingKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	type result struct {
		a   authn.Authenticator
		err error
	}
	ch := make(chan result, 1)
	go func() {
		a, err := authn.Resolve(ctx, k.inner, r)
		ch <- result{a, err}
	}()
	select {
	case <-ctx.Done():
		return nil, errors.Join(errors.New("credentials for "+r.RegistryStr()+": the credential helper did not answer in time"), ctx.Err())
	case res := <-ch:
		if res.err != nil {
			return nil, k.secrets.scrubHelperError(res.err)
		}
		return recordingAuth{inner: res.a, secrets: k.secrets}, nil
	}
}

// recordingAuth records the credential its inner authenticator returns.
type recordingAuth struct {
	inner   authn.Authenticator
	secrets *Secrets
}

func (a recordingAuth) Authorization() (*authn.AuthConfig, error) {
	return a.AuthorizationContext(context.Background())
}

func (a recordingAuth) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	c, err := authn.Authorization(ctx, a.inner)
	if err != nil {
		return nil, a.secrets.scrubHelperError(err)
	}
	a.secrets.addAuthConfig(c)
	return c, nil
}
