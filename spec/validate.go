package spec

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/google/go-containerregistry/pkg/name"
)

// Validate checks what the schema cannot express: target paths, source
// globs, references, tags, semver, archives and conflicts inside a layer. It
// is pure: it reports every problem and never changes s. Positions come from
// s's Source, so errors of a Spec built in code carry field paths only.
//
// A spec loaded from a file must have a relative context (it may climb with
// ..); a Spec built in code, which has no file, may use an absolute one.
func Validate(s *Spec) ErrorList {
	v := &validator{s: s}
	v.base()
	for i, p := range s.Platforms {
		if _, err := ParsePlatform(p); err != nil {
			v.add(joinIndex("platforms", i), "invalid platform %q; want os/arch[/variant] such as linux/amd64 or linux/arm/v7", p)
		}
	}
	v.dups("platforms", s.Platforms, "platform")
	switch {
	case strings.ContainsRune(s.Context, 0):
		v.add("context", "contains a NUL byte; want a directory path such as .")
	case s.source != nil && (strings.HasPrefix(s.Context, "/") || filepath.IsAbs(s.Context)):
		// A spec file must not pack host files from a fixed place, and an
		// absolute context ties it to one machine. Climbing (../..) stays
		// allowed for monorepos. A Spec built in code has no file to be
		// relative to, so its caller may pass an absolute directory.
		v.add("context", "must be relative to the spec file; got %s; want a directory such as . or ../..", s.Context)
	}
	names := map[string]int{}
	for i := range s.Layers {
		l := &s.Layers[i]
		lp := joinIndex("layers", i)
		if l.Name != "" {
			if j, ok := names[l.Name]; ok {
				v.add(lp+".name", "duplicate layer name %q (also %s); give each layer its own name", l.Name, v.where(joinIndex("layers", j)+".name"))
			}
			names[l.Name] = i
		}
		v.layer(l, lp)
	}
	v.config()
	v.refs()
	v.errs.Sort()
	return v.errs
}

// validator collects problems for one spec.
type validator struct {
	s    *Spec
	errs ErrorList
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, v.s.Errorf(path, format, args...))
}

// where renders a field's position for messages that name two places.
func (v *validator) where(path string) string {
	p := v.s.Pos(path)
	if p.Line == 0 {
		return path
	}
	return fmt.Sprintf("%s at line %d", path, p.Line)
}

func (v *validator) dups(path string, vals []string, what string) {
	seen := map[string]int{}
	for i, x := range vals {
		if j, ok := seen[x]; ok {
			v.add(joinIndex(path, i), "duplicate %s %q (also %s); list each once", what, x, v.where(joinIndex(path, j)))
			continue
		}
		seen[x] = i
	}
}

func (v *validator) base() {
	b := v.s.Base
	if b == "" {
		v.add("base", "missing base; want an image reference such as nginx:1.27-alpine, or scratch")
		return
	}
	local := strings.HasPrefix(b, LayoutPrefix) || strings.HasPrefix(b, ArchivePrefix)
	if !local && hasCredentials(b) {
		v.add("base", credentialsMsg)
		return
	}
	if _, err := ParseLocation(b); err == nil {
		return
	}
	switch {
	case strings.HasPrefix(b, LayoutPrefix):
		v.add("base", "invalid base %q; want oci:DIR, oci:DIR:tag or oci:DIR@sha256:…", b)
	case strings.HasPrefix(b, ArchivePrefix):
		v.add("base", "invalid base %q; want docker-archive:FILE.tar or docker-archive:FILE.tar.gz", b)
	default:
		if ref, err := name.ParseReference(b); err != nil {
			v.add("base", "invalid image reference %q: %s; want e.g. nginx:1.27-alpine or registry.example/app@sha256:<64 hex>", b, refReason(err))
		} else if err := CheckRepositoryPath(ref.Context().RepositoryStr()); err != nil {
			v.add("base", "invalid image reference %q: %v", b, err)
		} else {
			v.add("base", "invalid image reference %q: too long once the registry is made explicit; want a shorter repository name", b)
		}
	}
}

// refReason shortens a ggcr parse error to its reason.
// credentialsMsg is the error for a reference holding credentials; it never
// repeats the value.
const credentialsMsg = "the reference holds user:password@ credentials, which never belong in a spec (the value is not shown); log in with docker login or a credential helper instead"

// hasCredentials reports whether the reference s carries user info
// (user:password@host or token@host, with or without a scheme). An @ that
// starts a digest (name@sha256:…) is not user info.
func hasCredentials(s string) bool {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	host := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		host = s[:i]
	}
	i := strings.LastIndexByte(host, '@')
	if i < 0 {
		return false
	}
	rest := s[i+1:]
	return !strings.HasPrefix(rest, "sha256:") && !strings.HasPrefix(rest, "sha512:")
}

func refReason(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "could not parse reference") {
		return "not a valid reference"
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Count(msg, ": ") > 1 {
		msg = msg[:i]
	}
	return msg
}

// target is one entry a layer adds at a fixed path.
type target struct{ path, field string }

func (v *validator) layer(l *Layer, lp string) {
	deleted := map[string]string{}
	for j, d := range l.Delete {
		fp := joinIndex(lp+".delete", j)
		t, err := NormalizeTarget(d)
		switch {
		case err != nil:
			v.add(fp, "%v", err)
		case t == "":
			v.add(fp, "cannot delete the root directory; use base: scratch to start empty")
		default:
			deleted[t] = fp
		}
	}
	cleared := map[string]string{}
	for j, c := range l.Clear {
		fp := joinIndex(lp+".clear", j)
		t, err := NormalizeTarget(c)
		switch {
		case err != nil:
			v.add(fp, "%v", err)
		case t == "":
			v.add(fp, "cannot clear the root directory; use base: scratch to start empty")
		default:
			if other, ok := deleted[t]; ok {
				v.add(fp, "%s is both deleted (%s) and cleared; clear keeps the directory, delete removes it: pick one", c, v.where(other))
			}
			cleared[t] = fp
		}
	}
	var targets []target
	for j := range l.Files {
		f := &l.Files[j]
		fp := joinIndex(lp+".files", j)
		v.file(f, fp)
		if !strings.HasSuffix(f.Dest, "/") {
			if t, err := NormalizeFileTarget(f.Dest); err == nil {
				targets = append(targets, target{t, fp + ".dest"})
			}
		}
	}
	for j, d := range l.Dirs {
		fp := joinIndex(lp+".dirs", j)
		t, err := NormalizeTarget(d.Path)
		switch {
		case err != nil:
			v.add(fp+".path", "%v", err)
		case t == "":
			v.add(fp+".path", "the root directory cannot be declared; want a directory such as /var/cache/app")
		default:
			targets = append(targets, target{t, fp + ".path"})
		}
		v.modeOwner(d.Mode, d.Owner, fp)
	}
	for j, sl := range l.Symlinks {
		fp := joinIndex(lp+".symlinks", j)
		t, err := NormalizeFileTarget(sl.Path)
		if err != nil {
			v.add(fp+".path", "%v", err)
		} else {
			targets = append(targets, target{t, fp + ".path"})
			if _, ok := cleared[t]; ok {
				v.add(fp+".path", "%s is cleared in this layer and added as a symlink; clear applies to directories", sl.Path)
			}
		}
		if strings.ContainsRune(sl.Target, 0) || strings.ContainsAny(sl.Target, "\n\r") {
			v.add(fp+".target", "contains a control character; want a path such as server or /usr/bin/server")
		}
		v.modeOwner("", sl.Owner, fp)
	}
	seen := map[string]string{}
	for _, t := range targets {
		if other, ok := seen[t.path]; ok {
			v.add(t.field, "duplicate target /%s in this layer (also %s); each path may be added once per layer", t.path, v.where(other))
			continue
		}
		seen[t.path] = t.field
		if fp, ok := cleared[t.path]; ok && !strings.Contains(t.field, ".dirs[") {
			v.add(t.field, "/%s is also cleared (%s); clear is for directories, write delete to replace a file", t.path, v.where(fp))
		}
	}
}

func (v *validator) file(f *File, fp string) {
	v.glob(f.Src, fp+".src")
	for k, e := range f.Exclude {
		v.glob(e, joinIndex(fp+".exclude", k))
	}
	if strings.HasSuffix(f.Dest, "/") {
		if _, err := NormalizeTarget(f.Dest); err != nil {
			v.add(fp+".dest", "%v", err)
		}
	} else if _, err := NormalizeFileTarget(f.Dest); err != nil {
		v.add(fp+".dest", "%v", err)
	}
	if f.Extract {
		lower := strings.ToLower(f.Src)
		if !(strings.HasSuffix(lower, ".tar") || strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".tgz") ||
			strings.HasSuffix(lower, ".tar.zst")) {
			v.add(fp+".extract", "extract needs a .tar, .tar.gz, .tgz or .tar.zst src, got %q", f.Src)
		}
		if !strings.HasSuffix(f.Dest, "/") {
			v.add(fp+".dest", "extract unpacks under a directory; want a dest ending in / such as /opt/")
		}
	}
	if f.Sha256 != "" && hasMeta(ExpandPlatform(f.Src, Platform{OS: "linux", Architecture: "amd64"})) {
		v.add(fp+".sha256", "sha256 pins a single file, but src %q is a glob; name one file", f.Src)
	}
	v.modeOwner(f.Mode, f.Owner, fp)
}

// hasMeta reports whether a glob has pattern characters.
func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[{\\") }

// glob checks a source pattern: relative, inside the context, valid syntax.
func (v *validator) glob(p, fp string) {
	// Platform variables are filled in per platform; check with a sample.
	q := ExpandPlatform(p, Platform{OS: "linux", Architecture: "amd64", Variant: "v8"})
	switch {
	case q == "":
		v.add(fp, "empty pattern; want a relative path or glob such as public/**")
		return
	case strings.ContainsRune(q, 0):
		v.add(fp, "contains a NUL byte; want a relative path or glob such as public/**")
		return
	case strings.HasPrefix(q, "/"):
		v.add(fp, "%q is absolute; sources are relative to the context directory, e.g. public/**", p)
		return
	case strings.Contains(q, "${"):
		v.add(fp, "%q has an unexpanded variable; only ${TARGETOS}, ${TARGETARCH} and ${TARGETVARIANT} stay in src", p)
		return
	}
	for _, seg := range strings.Split(q, "/") {
		if seg == ".." {
			v.add(fp, "%q has a \"..\" segment; sources must stay inside the context directory", p)
			return
		}
	}
	if !doublestar.ValidatePattern(q) {
		v.add(fp, "invalid glob %q; check the brackets and braces (doublestar syntax: *, **, ?, [abc], {a,b})", p)
		return
	}
	if base := path.Base(q); strings.HasPrefix(base, ".wh.") {
		v.add(fp, "%q: names starting with .wh. are reserved for whiteouts", p)
	}
}

func (v *validator) modeOwner(mode, owner, fp string) {
	if mode != "" {
		if _, err := ParseMode(mode); err != nil {
			v.add(fp+".mode", "%v", err)
		}
	}
	if owner != "" {
		if _, _, err := ParseOwner(owner); err != nil {
			v.add(fp+".owner", "%v", err)
		}
	}
}

func (v *validator) config() {
	c := &v.s.Config
	if c.Workdir != "" {
		if _, err := NormalizeTarget(c.Workdir); err != nil {
			v.add("config.workdir", "%v", err)
		}
	}
	for i, p := range c.Ports {
		num, _, _ := strings.Cut(p, "/")
		if n, err := strconv.Atoi(num); err != nil || n < 1 || n > 65535 {
			v.add(joinIndex("config.ports", i), "invalid port %q; want 1-65535 with an optional /tcp, /udp or /sctp", p)
		}
	}
	v.dups("config.ports", c.Ports, "port")
	for i, vol := range c.Volumes {
		if t, err := NormalizeTarget(vol); err != nil {
			v.add(joinIndex("config.volumes", i), "%v", err)
		} else if t == "" {
			v.add(joinIndex("config.volumes", i), "the root directory cannot be a volume; want a path such as /data")
		}
	}
	v.dups("config.volumes", c.Volumes, "volume")
	for _, k := range sortedKeys(c.Labels) {
		if k == "" {
			v.add("config.labels", "empty label key; want a key such as org.opencontainers.image.source")
		}
	}
	for _, k := range sortedKeys(v.s.Annotations) {
		if k == "" {
			v.add("annotations", "empty annotation key; want a key such as org.opencontainers.image.description")
		}
	}
}

func (v *validator) refs() {
	s := v.s
	if hasCredentials(s.Image) {
		v.add("image", credentialsMsg)
	} else if s.Image != "" {
		if r, err := name.NewRepository(s.Image); err != nil {
			v.add("image", "invalid repository %q: %s; want e.g. registry.example/team/app", s.Image, refReason(err))
		} else if err := CheckRepositoryPath(r.RepositoryStr()); err != nil {
			v.add("image", "invalid repository %q: %v", s.Image, err)
		}
	}
	for i, t := range s.Tags {
		fp := joinIndex("tags", i)
		if hasCredentials(t) {
			v.add(fp, credentialsMsg)
			continue
		}
		if IsFullReference(t) {
			last := t[strings.LastIndex(t, "/")+1:]
			switch tag, err := name.NewTag(t); {
			case strings.Contains(t, "@"):
				v.add(fp, "%q is a digest reference; a tag names a repository and a tag, such as ghcr.io/acme/app:edge", t)
			case err != nil:
				v.add(fp, "invalid reference %q: %s; want a bare tag such as v1.2.3 or a full reference such as ghcr.io/acme/app:edge", t, refReason(err))
			case CheckRepositoryPath(tag.RepositoryStr()) != nil:
				v.add(fp, "invalid reference %q: %v", t, CheckRepositoryPath(tag.RepositoryStr()))
			case !strings.Contains(last, ":"):
				v.add(fp, "%q has no tag; write the full reference with its tag, such as %s:latest", t, t)
			}
			continue
		}
		if !ValidTag(t) {
			v.add(fp, "invalid tag %q; want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, e.g. v1.2.3 or latest", t)
		}
	}
	v.dups("tags", s.Tags, "tag")
	if _, err := SemverTags(s.Semver); err != nil {
		v.add("semver", "invalid semantic version %q; want a full version MAJOR.MINOR.PATCH such as 1.2.3 or v1.2.3 (optionally -PRERELEASE)", s.Semver)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
