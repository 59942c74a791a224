package main

import (
	"crypto/subtle"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/rogpeppe/go-internal/testscript"
)

// Credentials of the basic-auth registry of auth scripts.
const (
	authUser     = "strata"
	authPassword = "s3cret-pw"
)

// startAuthRegistry sets AUTHREGISTRY to an in-process ggcr registry on
// 127.0.0.1 that answers every request without the right basic-auth
// credentials (authUser, authPassword) with 401 and a Basic challenge, as a
// docker-registry with htpasswd does.
func startAuthRegistry(e *testscript.Env) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(authUser+":"+authPassword)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="strata-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	e.Defer(s.Close)
	e.Setenv("AUTHREGISTRY", strings.TrimPrefix(s.URL, "http://"))
}
