package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// staticKeychain has credentials for one registry only.
type staticKeychain struct{ host string }

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == k.host {
		return &authn.Basic{Username: "u", Password: "secret-pw"}, nil
	}
	return authn.Anonymous, nil
}

// TestExplainAuth: a 401/403 says whether credentials were missing or
// rejected, keeps the message's context, and never holds the secret
// (issue 8, point 5).
func TestExplainAuth(t *testing.T) {
	refusal := func(status int, rawURL string) error {
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Errorf("listing tags of x: %w", &transport.Error{StatusCode: status, Request: &http.Request{Method: http.MethodGet, URL: u}})
	}
	cfg := TransportConfig{Keychain: staticKeychain{host: "good.example"}, CredentialsFrom: "/home/me/.docker/config.json"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{refusal(401, "https://other.example/v2/app/tags/list"),
			"listing tags of x: no credentials found for other.example (401 Unauthorized; looked in /home/me/.docker/config.json); log in with: docker login other.example"},
		{refusal(403, "https://good.example/v2/app/tags/list"),
			"listing tags of x: credentials for good.example rejected (403 Forbidden; looked in /home/me/.docker/config.json); check them, or log in again with: docker login good.example"},
		// A token server names the registry in its service parameter.
		{refusal(401, "https://auth.example/token?scope=repository%3Aapp%3Apull&service=good.example"),
			"listing tags of x: credentials for good.example rejected (401 Unauthorized; looked in /home/me/.docker/config.json); check them, or log in again with: docker login good.example"},
		{refusal(404, "https://good.example/v2/app/tags/list"),
			"listing tags of x: GET https://good.example/v2/app/tags/list: unexpected status code 404 Not Found"},
	} {
		got := ExplainAuth(context.Background(), tc.err, cfg)
		if got.Error() != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
		var te *transport.Error
		if !errors.As(got, &te) {
			t.Errorf("%s: the registry's answer is lost", got)
		}
	}
	if ExplainAuth(context.Background(), nil, cfg) != nil {
		t.Error("ExplainAuth(nil) != nil")
	}
}
