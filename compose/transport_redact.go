package compose

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
	reQuery  = regexp.MustCompile(`([?&;])([^=&?\s"'#]+)=([^&\s"'#]*)`)
	reScheme = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}`)
	reJSON   = regexp.MustCompile(`(?i)"(token|access_token|refresh_token|password|secret|auth|identitytoken|registrytoken)"\s*:\s*"[^"]*"`)
	reUser   = regexp.MustCompile(`(://)[^/\s:@]+:[^/\s@]+@`)
	// reBareUser finds user:password@ at the start of a word, as typed in a
	// reference without a scheme (alice:pw@registry/repo).
	reBareUser = regexp.MustCompile(`(^|[\s"'(=,])([^/\s:@"'(=,]+):([^/\s@"']+)@([^\s"']*)`)
)

// Redact scrubs secrets from free text such as error messages and log lines:
// query values outside the allow-list of RedactURL, Bearer and Basic
// credentials, token and password fields of JSON bodies, and user:password@
// in URLs.
func Redact(s string) string {
	s = reQuery.ReplaceAllStringFunc(s, func(m string) string {
		sub := reQuery.FindStringSubmatch(m)
		if queryAllowed(sub[2]) {
			return m
		}
		return sub[1] + sub[2] + "=" + redacted
	})
	s = reScheme.ReplaceAllString(s, "$1 "+redacted)
	s = reJSON.ReplaceAllString(s, `"$1":"`+redacted+`"`)
	s = reUser.ReplaceAllString(s, "${1}"+redacted+"@")
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
