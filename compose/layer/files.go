package layer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/strata-build/strata/spec"
)

// addFiles plans the entries of layers[i].files[j]: it expands the glob
// through the context's os.Root, applies excludes and maps every match to
// its target.
//
// Dest mapping: with a trailing "/", each match keeps its path relative to the
// glob's static prefix (doublestar.SplitPattern); a plain file path keeps its
// base name and a plain directory means its whole tree (like "dir/**").
// Without a trailing "/", the glob must match exactly one path, which is
// stored at dest (a directory match brings its tree along). Every matched
// directory brings its tree, so "assets/*" copies subdirectories whole.
func (p *planner) addFiles(ctx context.Context, j int, f spec.File) error {
	field := fmt.Sprintf("%s.files[%d]", p.field, j)
	pattern, err := cleanPattern(spec.ExpandPlatform(f.Src, p.req.Platform))
	if err != nil {
		return p.specErr(field+".src", "%v", err)
	}
	dest := spec.ExpandPlatform(f.Dest, p.req.Platform)
	destT, err := spec.NormalizeTarget(dest)
	if err != nil {
		return p.specErr(field+".dest", "%v", err)
	}
	dirDest := strings.HasSuffix(dest, "/") || dest == "/"
	var excludes []string
	for k, x := range f.Exclude {
		x, err := cleanPattern(spec.ExpandPlatform(x, p.req.Platform))
		if err != nil {
			return p.specErr(fmt.Sprintf("%s.exclude[%d]", field, k), "%v", err)
		}
		excludes = append(excludes, x)
	}
	src := source{field: field, excludes: excludes}
	if f.Mode != "" {
		if f.Extract {
			return p.specErr(field+".mode", "mode cannot be set with extract: true; archive entries keep their own modes")
		}
		m, err := spec.ParseMode(f.Mode)
		if err != nil {
			return p.specErr(field+".mode", "%v", err)
		}
		src.mode, src.hasMode = m, true
	}
	if src.uid, src.gid, err = spec.ParseOwner(f.Owner); err != nil {
		return p.specErr(field+".owner", "%v", err)
	}

	matches, base, err := p.glob(ctx, pattern)
	if err != nil {
		return fmt.Errorf("%s: src %q: %w", field, f.Src, err)
	}
	all := len(matches)
	matches = slices.DeleteFunc(matches, src.excluded)
	switch {
	case len(matches) == 0 && f.Optional:
		return nil
	case len(matches) == 0 && all > 0:
		return p.specErr(field+".src", "%q matched %d paths, all of them excluded; set optional: true if that is expected", f.Src, all)
	case len(matches) == 0:
		if link := p.symlinkInPrefix(pattern); link != "" {
			return p.specErr(field+".src", "%q matched nothing: %s is a symlink in the context, and symlinks are not followed; name the directory it points to in src", f.Src, link)
		}
		if p.req.Ignore.Ignored(pattern) {
			return p.specErr(field+".src", "%q matched nothing: %s is ignored by %s in the context directory", f.Src, pattern, IgnoreFile)
		}
		return p.specErr(field+".src", "%q matched nothing in the context; set optional: true if that is expected", f.Src)
	case f.Extract && len(matches) != 1:
		return p.specErr(field+".src", "%q matched %d paths (%s); extract needs exactly one archive", f.Src, len(matches), listSome(matches))
	case !dirDest && len(matches) != 1:
		return p.specErr(field+".dest", "src %q matched %d paths (%s); a dest without a trailing \"/\" takes exactly one match (add \"/\" to copy them into a directory)", f.Src, len(matches), listSome(matches))
	}
	if f.Extract {
		return p.addArchive(field, f, matches[0], destT)
	}
	if f.Sha256 != "" {
		// A pin names the content of exactly one file.
		if len(matches) != 1 {
			return p.specErr(field+".sha256", "sha256 pins one file, but src %q matched %d paths (%s)", f.Src, len(matches), listSome(matches))
		}
		src.pin = strings.ToLower(spec.ExpandPlatform(f.Sha256, p.req.Platform))
	}
	seen := map[string]bool{}
	for _, m := range matches {
		target := destT
		if dirDest && m != base {
			target = path.Join(destT, strings.TrimPrefix(m, base+"/"))
			if base == "." {
				target = path.Join(destT, m)
			}
		}
		if err := p.addTree(ctx, &src, m, target, seen); err != nil {
			return err
		}
	}
	return nil
}

// source is what one files[] entry says about the entries it makes.
type source struct {
	field    string
	excludes []string
	mode     int64
	hasMode  bool
	uid, gid int
	pin      string // sha256 (hex) the one matched file must have
}

// pinField is the spec field of the entry's sha256 pin.
func (s *source) pinField() string { return s.field + ".sha256" }

// excluded reports whether the context path p, or a directory above it,
// matches an exclude glob (excluding a directory excludes its tree).
func (s *source) excluded(p string) bool {
	if len(s.excludes) == 0 {
		return false
	}
	for q := p; q != "." && q != "/"; q = path.Dir(q) {
		for _, x := range s.excludes {
			if doublestar.MatchUnvalidated(x, q) {
				return true
			}
		}
	}
	return false
}

// cleanPattern checks a src or exclude glob and returns it cleaned.
func cleanPattern(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty glob")
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%q is absolute; globs are relative to the context directory", p)
	}
	if err := checkName("glob", p); err != nil {
		return "", err
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("%q has a \"..\" segment; globs cannot leave the context directory", p)
		}
	}
	if !doublestar.ValidatePattern(p) {
		return "", fmt.Errorf("%q is not a valid glob (check [ ] and { } pairs)", p)
	}
	c := path.Clean(p)
	if c == "." {
		c = "**"
	}
	return c, nil
}

// hasMeta reports whether p has glob metacharacters.
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[{\`) }

// glob returns the context paths pattern matches, sorted, and the static
// prefix the dest mapping is relative to. Symlinks are never followed: a
// symlink is a match like a file, and nothing below a symlinked directory
// matches (also when the symlink is part of the static prefix).
func (p *planner) glob(ctx context.Context, pattern string) ([]string, string, error) {
	if !hasMeta(pattern) {
		fi, ok, err := p.lstatNoFollow(pattern)
		if err != nil || !ok {
			return nil, "", err
		}
		if fi.IsDir() {
			return []string{pattern}, pattern, nil
		}
		return []string{pattern}, path.Dir(pattern), nil
	}
	base, _ := doublestar.SplitPattern(pattern)
	if base != "." {
		fi, ok, err := p.lstatNoFollow(base)
		if err != nil || !ok {
			return nil, base, err
		}
		if !fi.IsDir() { // a file or a symlink: only itself can match
			if doublestar.MatchUnvalidated(pattern, base) {
				return []string{base}, path.Dir(base), nil
			}
			return nil, base, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	matches, err := doublestar.Glob(p.fsys, pattern, doublestar.WithNoFollow(), doublestar.WithFailOnIOErrors())
	if err != nil {
		return nil, "", err
	}
	// doublestar follows symlinks in static segments after a wildcard
	// ("*/sub/**" with a symlinked sub); drop everything found that way.
	out := matches[:0]
	for _, m := range matches {
		ok, err := p.noSymlinkAbove(m)
		if err != nil {
			return nil, "", err
		}
		if ok {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), base, nil
}

// lstatNoFollow lstats the context path name after checking that none of
// its parent directories is a symlink. ok is false when it does not exist or
// lies below a symlink.
func (p *planner) lstatNoFollow(name string) (fs.FileInfo, bool, error) {
	ok, err := p.noSymlinkAbove(name)
	if err != nil || !ok {
		return nil, false, err
	}
	// Through p.fsys: an ignored path does not exist (and is not stat'ed).
	fi, err := fs.Lstat(p.fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return fi, true, nil
}

// symlinkInPrefix returns the first path of the glob's static prefix that
// is a symlink in the context, or "" when there is none (to explain a glob
// that matched nothing).
func (p *planner) symlinkInPrefix(pattern string) string {
	prefix, _ := doublestar.SplitPattern(pattern)
	if prefix == "." {
		return ""
	}
	parts := strings.Split(prefix, "/")
	for i := range parts {
		cur := strings.Join(parts[:i+1], "/")
		fi, err := p.req.Root.Lstat(cur)
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return cur
		}
	}
	return ""
}

// noSymlinkAbove reports whether every parent directory of the context path
// name exists and is a real directory (not a symlink).
func (p *planner) noSymlinkAbove(name string) (bool, error) {
	dir := path.Dir(name)
	if dir == "." {
		return true, nil
	}
	if ok, seen := p.realDirs[dir]; seen {
		return ok, nil
	}
	ok, err := p.noSymlinkAbove(dir)
	if err == nil && ok {
		fi, lerr := p.req.Root.Lstat(dir)
		switch {
		case errors.Is(lerr, fs.ErrNotExist):
			ok = false
		case lerr != nil:
			return false, lerr
		default:
			ok = fi.IsDir()
		}
	}
	if err != nil {
		return false, err
	}
	p.realDirs[dir] = ok
	return ok, nil
}

// addTree adds the context path m at target and, when m is a directory, its
// whole tree (not following symlinks), skipping excluded paths.
func (p *planner) addTree(ctx context.Context, src *source, m, target string, seen map[string]bool) error {
	if seen[m] {
		return nil
	}
	fi, err := p.req.Root.Lstat(m)
	if err != nil {
		return fmt.Errorf("file %s: %w", m, err)
	}
	if !fi.IsDir() {
		seen[m] = true
		return p.addSource(src, m, target, fi)
	}
	return fs.WalkDir(p.fsys, m, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("file %s: %w", q, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if q != m && src.excluded(q) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if seen[q] {
			return nil
		}
		seen[q] = true
		t := target
		if q != m {
			t = path.Join(target, strings.TrimPrefix(q, m+"/"))
		}
		// Lstat through the root, not d.Info(), which stats by path name.
		info, err := p.req.Root.Lstat(q)
		if err != nil {
			return fmt.Errorf("file %s: %w", q, err)
		}
		return p.addSource(src, q, t, info)
	})
}

// addSource plans one context path as an entry at target (layer form).
func (p *planner) addSource(src *source, name, target string, fi fs.FileInfo) error {
	if err := checkName("file", name); err != nil {
		return err
	}
	if hasWhiteoutName(name) || hasWhiteoutName(target) {
		return fmt.Errorf("file %s: names starting with %s are reserved for whiteouts and cannot be added", name, WhiteoutPrefix)
	}
	if target != "" {
		t, err := spec.NormalizeTarget("/" + target)
		if err != nil {
			return fmt.Errorf("file %s: target: %w", name, err)
		}
		target = t
	}
	e := &layerEntry{target: target, uid: src.uid, gid: src.gid, source: name, origin: src.field}
	mode := fi.Mode()
	switch {
	case mode.IsRegular():
		e.kind = kindFile
		e.size = fi.Size()
		switch {
		case src.hasMode:
			e.mode = src.mode
		case mode.Perm()&0o111 != 0:
			e.mode = 0o755
		default:
			e.mode = 0o644
		}
		e.content = &contentRef{path: name, stat: statOf(fi), pin: src.pin, pinField: src.field + ".sha256"}
	case mode.IsDir():
		if src.pin != "" {
			return p.specErr(src.pinField(), "sha256 pins a regular file, but %s is a directory", name)
		}
		if target == "" { // the image root is never an entry
			return nil
		}
		e.kind, e.mode, e.onlyIfEmpty = kindDir, 0o755, true
	case mode&fs.ModeSymlink != 0:
		if src.pin != "" {
			return p.specErr(src.pinField(), "sha256 pins a regular file, but %s is a symlink", name)
		}
		link, err := p.req.Root.Readlink(name)
		if err != nil {
			return fmt.Errorf("file %s: %w", name, err)
		}
		if link == "" {
			return fmt.Errorf("file %s: symlink has an empty target", name)
		}
		if err := checkName("symlink target", link); err != nil {
			return fmt.Errorf("file %s: %w", name, err)
		}
		if err := linkStaysInContext(name, link); err != nil {
			return fmt.Errorf("file %s: %w", name, err)
		}
		e.kind, e.mode, e.link = kindSymlink, 0o777, link
	default:
		return fmt.Errorf("file %s: is a %s; only regular files, directories and symlinks can be added", name, specialKind(mode))
	}
	if target == "" {
		return fmt.Errorf("file %s: cannot be stored at /, the image root", name)
	}
	p.entries = append(p.entries, e)
	return nil
}

// linkStaysInContext checks a source symlink (context path name, target
// link) against spec-v1's rule: a source symlink is stored only when its
// target stays inside the tree it comes from. An absolute target, or a
// relative one that climbs out of the context, names a place on the build
// machine, not in the image; such links are rejected (the link is never
// followed either way, so no byte from outside the context is ever read).
// Links the image needs anywhere, absolute ones included, are declared with
// symlinks: in the spec.
func linkStaysInContext(name, link string) error {
	if path.IsAbs(link) {
		return fmt.Errorf("symlink to %s: an absolute target points outside the context; declare the link under symlinks: if the image needs it", link)
	}
	if r := path.Join(path.Dir(name), link); r == ".." || strings.HasPrefix(r, "../") {
		return fmt.Errorf("symlink to %s points outside the context; declare the link under symlinks: if the image needs it", link)
	}
	return nil
}

// specialKind names a file type that cannot go into a layer.
func specialKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (fifo)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file (" + m.Type().String() + ")"
}

// listSome lists up to three paths for a message.
func listSome(ps []string) string {
	if len(ps) <= 3 {
		return strings.Join(ps, ", ")
	}
	return strings.Join(ps[:3], ", ") + ", …"
}

// hasWhiteoutName reports whether any component of the slash path p starts
// with ".wh." (the image spec reserves such names for whiteouts; no layer
// may carry them as files or directories).
func hasWhiteoutName(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if strings.HasPrefix(c, WhiteoutPrefix) {
			return true
		}
	}
	return false
}
