package spec

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Platform is an os/arch[/variant] triple.
type Platform struct {
	OS, Architecture, Variant string
}

// String formats p as os/arch[/variant].
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses "os/arch[/variant]".
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return Platform{}, fmt.Errorf("platform %q: want os/arch[/variant], e.g. linux/amd64 or linux/arm/v7", s)
	}
	for _, p := range parts {
		if p == "" || strings.ToLower(p) != p || strings.ContainsAny(p, " \t:@") {
			return Platform{}, fmt.Errorf("platform %q: want lower-case os/arch[/variant], e.g. linux/amd64 or linux/arm/v7", s)
		}
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// ExpandPlatform replaces ${TARGETOS}, ${TARGETARCH} and ${TARGETVARIANT} in s
// with p's values. Other text is returned unchanged.
func ExpandPlatform(s string, p Platform) string {
	if !strings.Contains(s, "${TARGET") {
		return s
	}
	return strings.NewReplacer(
		"${TARGETOS}", p.OS,
		"${TARGETARCH}", p.Architecture,
		"${TARGETVARIANT}", p.Variant,
	).Replace(s)
}

// ParseMode parses a quoted octal mode string such as "0644" or "4755" into
// permission and special bits (at most 07777).
func ParseMode(s string) (int64, error) {
	if len(s) < 3 || len(s) > 5 {
		return 0, fmt.Errorf("mode %q: want a quoted octal string such as \"0644\" or \"4755\"", s)
	}
	v, err := strconv.ParseInt(s, 8, 64)
	if err != nil || v < 0 || v > 0o7777 {
		return 0, fmt.Errorf("mode %q: want a quoted octal string such as \"0644\" or \"4755\"", s)
	}
	return v, nil
}

// ParseOwner parses a numeric "uid:gid"; an empty string means 0:0.
func ParseOwner(s string) (uid, gid int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("owner %q: want numeric uid:gid, e.g. \"101:101\"", s)
	}
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 || uid > 1<<31-1 || gid > 1<<31-1 ||
		strings.HasPrefix(u, "+") || strings.HasPrefix(g, "+") {
		return 0, 0, fmt.Errorf("owner %q: want numeric uid:gid, e.g. \"101:101\"", s)
	}
	return uid, gid, nil
}

// MaxNameLen is the longest path component a target path may have.
const MaxNameLen = 255

// MaxPathLen is the longest target path accepted.
const MaxPathLen = 4096

// NormalizeTarget checks an absolute target path from a spec (a dest, a
// delete or clear entry, a dirs or symlinks path) and returns it in layer form:
// cleaned, without the leading "/", e.g. "/usr//bin/./x" → "usr/bin/x". The
// root "/" is returned as "" (callers decide whether the root is allowed). A
// trailing "/" is dropped; callers that care check for it themselves.
//
// It rejects relative paths, any ".." segment, NUL and other control
// characters, backslashes, invalid UTF-8, components longer than MaxNameLen,
// paths longer than MaxPathLen, and components starting with ".wh." (only
// strata writes whiteouts).
func NormalizeTarget(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("empty path; want an absolute path such as /app/bin")
	case !strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%q is not absolute; want a path starting with /", p)
	case !utf8.ValidString(p):
		return "", fmt.Errorf("%q is not valid UTF-8", p)
	case strings.ContainsRune(p, '\\'):
		return "", fmt.Errorf("%q contains a backslash; use / to separate path components", p)
	case len(p) > MaxPathLen:
		return "", fmt.Errorf("path is %d bytes long; at most %d are allowed", len(p), MaxPathLen)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%q contains a control character", p)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("%q contains a \"..\" segment; targets must not climb out of their directory", p)
		}
		if len(seg) > MaxNameLen {
			return "", fmt.Errorf("%q has a component of %d bytes; at most %d are allowed", p, len(seg), MaxNameLen)
		}
	}
	clean := strings.TrimPrefix(path.Clean(p), "/")
	for _, seg := range strings.Split(clean, "/") {
		if strings.HasPrefix(seg, ".wh.") {
			return "", fmt.Errorf("%q: names starting with .wh. are reserved for whiteouts", p)
		}
	}
	return clean, nil
}

// NormalizeFileTarget is NormalizeTarget for a path that names a file, a
// symlink or another non-directory entry: it also rejects the root ("/",
// "/.", "//") and a trailing "/". The result is never "" or ".".
func NormalizeFileTarget(p string) (string, error) {
	clean, err := NormalizeTarget(p)
	if err != nil {
		return "", err
	}
	if clean == "" || clean == "." {
		return "", fmt.Errorf("%q is the root directory; want a file path such as /app/server", p)
	}
	if strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("%q ends in /; want a file path such as /app/server", p)
	}
	return clean, nil
}
