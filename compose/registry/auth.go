package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// AuthError is a registry's 401 or 403 explained: whether strata had no
// credentials for the registry at all, or had some and the registry
// rejected them. It never holds a secret.
type AuthError struct {
	// Host is the registry (host[:port]) that refused.
	Host string
	// Status is the HTTP status code of the refusal (401 or 403).
	Status int
	// Rejected is true when credentials for Host were found (and sent),
	// false when none were found.
	Rejected bool
	// From says where credentials were looked for
	// (TransportConfig.CredentialsFrom); "" says nothing.
	From string
	// Said is what the registry said beyond its status line (its error
	// diagnostics or body), or "".
	Said string
	// Err is the registry's answer.
	Err error
}

// Error says what happened and what to do.
func (e *AuthError) Error() string {
	status := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	where := ""
	if e.From != "" {
		where = "; looked in " + e.From
	}
	said := ""
	if e.Said != "" {
		said = "; the registry said: " + e.Said
	}
	if e.Rejected {
		return fmt.Sprintf("credentials for %s rejected (%s%s); check them, or log in again with: docker login %s%s", e.Host, status, where, e.Host, said)
	}
	return fmt.Sprintf("no credentials found for %s (%s%s); log in with: docker login %s%s", e.Host, status, where, e.Host, said)
}

// registrySaid returns what a registry's refusal said beyond its status
// line (its error diagnostics, or its body), or "". The UNAUTHORIZED and
// DENIED diagnostics only repeat the status, so they are left out.
func registrySaid(te *transport.Error) string {
	if len(te.Errors) > 0 {
		var parts []string
		for _, d := range te.Errors {
			if d.Code != transport.UnauthorizedErrorCode && d.Code != transport.DeniedErrorCode {
				parts = append(parts, d.String())
			}
		}
		return strings.Join(parts, "; ")
	}
	bare := fmt.Sprintf("unexpected status code %d %s: ", te.StatusCode, http.StatusText(te.StatusCode))
	if _, body, ok := strings.Cut(te.Error(), bare); ok {
		return body
	}
	return ""
}

// Unwrap returns the registry's answer.
func (e *AuthError) Unwrap() error { return e.Err }

// ExplainAuth returns err with a registry's refusal (a 401 or 403 anywhere
// in its chain) explained as an [AuthError]: the registry's bare status
// line ("unexpected status code 401 Unauthorized …") is replaced by which
// credentials were missing or rejected and how to log in, the rest of the
// message is kept. The answer is told apart by asking cfg.Keychain for the
// registry's credentials again. Any other error is returned as it is.
func ExplainAuth(ctx context.Context, err error, cfg TransportConfig) error {
	var te *transport.Error
	if err == nil || !errors.As(err, &te) || (te.StatusCode != http.StatusUnauthorized && te.StatusCode != http.StatusForbidden) {
		return err
	}
	host := refusingRegistry(te)
	if host == "" {
		return err
	}
	cfg = cfg.withDefaults()
	ae := &AuthError{Host: host, Status: te.StatusCode, From: cfg.CredentialsFrom, Said: registrySaid(te), Err: te}
	if reg, rerr := name.NewRegistry(host); rerr == nil {
		if auth, kerr := authn.Resolve(ctx, cfg.Keychain, reg); kerr == nil && auth != authn.Anonymous {
			if ac, aerr := auth.Authorization(); aerr == nil && *ac != (authn.AuthConfig{}) {
				ae.Rejected = true
			}
		}
	}
	msg := err.Error()
	if inner := te.Error(); strings.Contains(msg, inner) {
		msg = strings.Replace(msg, inner, ae.Error(), 1)
	} else {
		msg = msg + ": " + ae.Error()
	}
	return &explainedError{msg: msg, err: ae}
}

// refusingRegistry names the registry behind a refusal: the host of a
// registry API request (/v2/…), else the service a token server was asked
// for, else the host asked.
func refusingRegistry(te *transport.Error) string {
	if te.Request == nil || te.Request.URL == nil {
		return ""
	}
	u := te.Request.URL
	if !strings.HasPrefix(u.Path, "/v2/") && u.Path != "/v2" {
		if svc := u.Query().Get("service"); svc != "" {
			return svc
		}
	}
	return u.Host
}

// explainedError is an error whose message had its registry refusal
// explained; errors.As still finds the AuthError and the registry's answer.
type explainedError struct {
	msg string
	err *AuthError
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }
