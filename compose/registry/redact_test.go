package registry

import (
	"context"
	"encoding/base64"
	"net/url"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// TestRedact pins what is scrubbed from messages and what is kept.
func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`PUT https://r.io/v2/a/blobs/uploads/x?digest=sha256:ab&X-Amz-Signature=SEKRET`, `PUT https://r.io/v2/a/blobs/uploads/x?digest=sha256:ab&X-Amz-Signature=REDACTED`},
		{`GET https://r.io/token?scope=repository:a:pull&service=r.io&token=SEKRET`, `GET https://r.io/token?scope=repository:a:pull&service=r.io&token=REDACTED`},
		{`Authorization: Bearer abcdef123456`, `Authorization: Bearer REDACTED`},
		{`Authorization: Basic YWxpY2U6czNjcmV0`, `Authorization: Basic REDACTED`},
		{`{"token":"SEKRET","expires_in":300}`, `{"token":"REDACTED","expires_in":300}`},
		{`pulling https://alice:s3cret@r.io/v2/`, `pulling https://REDACTED@r.io/v2/`},
		// A reference typed with credentials and no scheme.
		{`repository "alice:s3cretPW@127.0.0.1:5000/x": invalid`, `repository "REDACTED@127.0.0.1:5000/x": invalid`},
		{`alice:pw@r.io/x`, `REDACTED@r.io/x`},
		// ggcr repeats a name after a "/"; several references in one line.
		{`parsing "https://bob:hunter2@127.0.0.1:1/y": /bob:hunter2@127.0.0.1:1/y`, `parsing "https://REDACTED@127.0.0.1:1/y": /REDACTED@127.0.0.1:1/y`},
		{`alice:pw@a.io/x,bob:pw2@b.io/y`, `REDACTED@a.io/x,REDACTED@b.io/y`},
		{`https://tok3n@host.io/v2/`, `https://REDACTED@host.io/v2/`},
		{`https://alice:p@ss@host.io/v2/`, `https://REDACTED@host.io/v2/`},
		{`;alice:pw@host.io/x`, `;REDACTED@host.io/x`},
		{`authorities: alice:s3cretPW@127.0.0.1:1`, `authorities: REDACTED@127.0.0.1:1`},
		{"[alice:pw@host.io/x]", "[REDACTED@host.io/x]"},
		// Pinned references and ordinary text are left alone.
		{`resolving base nginx:1.27@sha256:0123abcd: not found`, `resolving base nginx:1.27@sha256:0123abcd: not found`},
		{`docker.io/library/nginx:1.27@sha256:0123abcd`, `docker.io/library/nginx:1.27@sha256:0123abcd`},
		{`image.yaml:3:7: layers[0].files[0].src: x`, `image.yaml:3:7: layers[0].files[0].src: x`},
		{`mail me at user@example.com`, `mail me at user@example.com`},
		// Ordinary values that only look like secrets are kept.
		{`src "user:group@host.conf" matched nothing`, `src "user:group@host.conf" matched nothing`},
		{`invalid tag "basic release"`, `invalid tag "basic release"`},
		{`src "page?lang=en.html" matched nothing`, `src "page?lang=en.html" matched nothing`},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
}

// TestSecretsRedactByValue (issue 13 point 2): every secret a keychain
// handed out or a request carried is scrubbed by value, in whatever shape
// a registry repeats it.
func TestSecretsRedactByValue(t *testing.T) {
	s := NewSecrets()
	kc := recordingKeychain{inner: fixedKeychain{&authn.AuthConfig{Username: "u", Password: "pw-1234", IdentityToken: "refresh-XYZ987"}}, secrets: s}
	a, err := kc.Resolve(name.MustParseReference("r.example/a").Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authn.Authorization(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	s.addAuthorization("Bearer access.tok-55")
	in := "pw-1234 / " + base64.StdEncoding.EncodeToString([]byte("u:pw-1234")) + " / refresh_token=refresh-XYZ987 / " +
		url.QueryEscape("refresh-XYZ987") + " / access.tok-55 / cHctMTIzNA== / ok"
	got := s.Redact(in)
	want := "REDACTED / REDACTED / refresh_token=REDACTED / REDACTED / REDACTED / REDACTED / ok"
	if got != want {
		t.Fatalf("Redact:\n got %s\nwant %s", got, want)
	}
	var nilSecrets *Secrets
	if got := nilSecrets.Redact("Bearer abcdefghijklmnop"); got != "Bearer REDACTED" {
		t.Errorf("nil Secrets: %s", got)
	}
}

type fixedKeychain struct{ c *authn.AuthConfig }

func (k fixedKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(*k.c), nil
}
