package registry

import (
	"net/url"
	"regexp"
	"strings"
)

// queryAllowed reports whether the value of query parameter k is kept in
// logs and errors; every other value (signatures, tokens) is replaced.
func queryAllowed(k string) bool {
	switch strings.ToLower(k) {
	case "scope", "service", "mount", "from", "digest", "n", "last", "ns":
		return true
	}
	return false
}

const redacted = "REDACTED"

// RedactURL removes user info and the values of query parameters that may
// carry secrets (anything but scope, service, mount, from, digest, n, last).
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return Redact(s)
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if !queryAllowed(k) {
				q[k] = []string{redacted}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

var (
	reURL    = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+`)
	reQuery  = regexp.MustCompile(`([?&;])([^=&?\s"'#]+)=([^&\s"'#]*)`)
	reScheme = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{12,}`)
	reJSON   = regexp.MustCompile(`(?i)"(token|access_token|refresh_token|password|secret|auth|identitytoken|registrytoken)"\s*:\s*"[^"]*"`)
	// reUser finds the user info of a URL (user:password@, token@), up to
	// the last @ before the path.
	reUser = regexp.MustCompile(`(://)[^\s/"'<>]*@`)
	// reBareUser finds user:password@ before a registry host (a host with a
	// port, or followed by a path) typed in a reference without a scheme
	// (alice:pw@registry/repo), at the start of a word or after a "/" (ggcr
	// repeats names after one).
	reBareUser = regexp.MustCompile("(^|[\\s\"'(=,/\\[<;`])([^/\\s:@\"'(=,\\[<;`]+):([^/\\s@\"']+)@([A-Za-z0-9.-]+(?::[0-9]+|/))")
)

// Redact scrubs secrets from free text such as error messages and log lines:
// in URLs, the user info and query values outside the allow-list of
// RedactURL; Bearer and Basic credentials; token and password fields of
// JSON bodies; and user:password@ typed before a registry host.
func Redact(s string) string {
	s = reURL.ReplaceAllStringFunc(s, func(u string) string {
		u = reQuery.ReplaceAllStringFunc(u, func(m string) string {
			sub := reQuery.FindStringSubmatch(m)
			if queryAllowed(sub[2]) {
				return m
			}
			return sub[1] + sub[2] + "=" + redacted
		})
		return reUser.ReplaceAllString(u, "${1}"+redacted+"@")
	})
	s = reScheme.ReplaceAllString(s, "$1 "+redacted)
	s = reJSON.ReplaceAllString(s, `"$1":"`+redacted+`"`)
	s = reBareUser.ReplaceAllStringFunc(s, func(m string) string {
		sub := reBareUser.FindStringSubmatch(m)
		// name:tag@sha256:… is a pinned reference, not a credential.
		if strings.HasPrefix(sub[4], "sha256:") || strings.HasPrefix(sub[4], "sha512:") {
			return m
		}
		return sub[1] + redacted + "@" + sub[4]
	})
	return s
}
