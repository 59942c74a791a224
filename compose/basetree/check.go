// Package basetree checks a spec's layers against the files of its base
// image, before anything is written: adding below a base file, clearing a
// non-directory, deleting or clearing a missing path, and a directory that
// would replace a base symlink are spec errors with a position.
//
// It reads only the tar headers of each base layer (never its content),
// streaming, and caches that index per layer diffID, so a base is read at
// most once per cache. A visitor (Options.Visit) can take what else it
// needs of a layer, such as the SBOM's package databases, from that same
// stream. Symlinked ancestors resolve inside the tree as
// runtimes resolve them inside the rootfs.
//
// It imports spec and compose/layer (the entries of built layers); it
// knows nothing of where bases come from.
package basetree

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/spec"
)

// Checks against the base. A layer is applied on top of the base's layers
// and the spec's earlier layers (the lower tree). Before anything is written,
// every spec layer is checked against its lower tree, per platform:
//
//  1. an added entry whose ancestor is a non-directory other than a symlink
//     (a file, hard link, device or fifo) in the lower tree, and that the same
//     layer does not delete or clear, is an error: no runtime can unpack it;
//  2. clear of a path that is not a directory in the lower tree is an error;
//  3. delete or clear of a path that is not in the lower tree is an error,
//     with a did-you-mean among its siblings.
//
// Symlinked ancestors are resolved inside the tree, as runtimes resolve them
// inside the rootfs, so deleting /lib/x with /lib → usr/lib checks
// /usr/lib/x, and adding /lib/y is allowed.

// Check checks every spec layer of every platform against its lower tree
// (see the rules above) and returns all problems as a spec.ErrorList.
// plats names the platforms in the order of trees; layers is [platform][spec
// layer] (nil for a layer that is not built). A nil trees checks nothing.
func Check(s *spec.Spec, plats []spec.Platform, trees *Trees, layers [][]*layer.Built) error {
	if trees == nil {
		return nil // nothing to check, or the check was skipped (OnlyLocal)
	}
	type problem struct {
		err   *spec.Error
		plats []string
	}
	var found []*problem
	byKey := map[string]*problem{}
	scratch := s.Base == "scratch"
	if len(s.Layers) == 0 {
		return nil
	}
	for pi, plat := range plats {
		t := newTree()
		for _, recs := range trees.recs[pi] {
			t.apply(recs, -1)
		}
		for li, bl := range layers[pi] {
			c := &layerCheck{s: s, index: li, lower: t, platform: plat, scratch: scratch}
			for _, e := range c.check(bl) {
				k := e.Path + "\x00" + e.Msg
				if p := byKey[k]; p != nil {
					p.plats = append(p.plats, plat.String())
					continue
				}
				p := &problem{err: e, plats: []string{plat.String()}}
				byKey[k] = p
				found = append(found, p)
			}
			if bl != nil {
				t.apply(entryRecs(bl.Entries), li)
			}
		}
	}
	var errs spec.ErrorList
	for _, p := range found {
		if len(plats) > 1 && len(p.plats) < len(plats) {
			p.err.Msg += " [platform " + strings.Join(p.plats, ", ") + "]"
		}
		errs = append(errs, p.err)
	}
	errs.Sort()
	return errs.Err()
}

// entryRecs turns a built layer's entries into tree records.
func entryRecs(es []layer.Entry) []treeRec {
	out := make([]treeRec, 0, len(es))
	for _, e := range es {
		r := treeRec{name: strings.TrimPrefix(e.Target, "/")}
		switch e.Type {
		case "dir":
			r.kind = recDir
		case "symlink":
			r.kind, r.link = recSymlink, e.Link
		case "hardlink":
			r.kind, r.link = recHardlink, e.Link
		case "whiteout":
			r.kind = recWhiteout
		case "opaque":
			r.kind = recOpaque
		default:
			r.kind = recFile
		}
		out = append(out, r)
	}
	return out
}

// layerCheck checks one spec layer (for one platform) against its lower
// tree.
type layerCheck struct {
	s        *spec.Spec
	index    int
	lower    *tree
	platform spec.Platform
	scratch  bool // the base has no layers
}

// check returns the layer's problems.
func (c *layerCheck) check(bl *layer.Built) []*spec.Error {
	var errs []*spec.Error
	l := c.s.Layers[c.index]
	for k, d := range l.Delete {
		if e := c.checkRemove("delete", fmt.Sprintf("layers[%d].delete[%d]", c.index, k), d); e != nil {
			errs = append(errs, e)
		}
	}
	for k, d := range l.Clear {
		if e := c.checkRemove("clear", fmt.Sprintf("layers[%d].clear[%d]", c.index, k), d); e != nil {
			errs = append(errs, e)
		}
	}
	if bl != nil {
		errs = append(errs, c.checkAdds(bl.Entries)...)
	}
	return errs
}

// checkRemove checks one delete or clear (rules 2 and 3).
func (c *layerCheck) checkRemove(verb, field, raw string) *spec.Error {
	p, err := spec.NormalizeTarget(raw)
	if err != nil || p == "" {
		return nil // the layer builder reports it
	}
	n := c.lower.resolve(p, false)
	if n == nil {
		where := "in the base or earlier layers"
		if c.scratch {
			where = "in earlier layers (the base is scratch)"
		}
		msg := fmt.Sprintf("%s /%s: no such path %s", verb, p, where)
		if alt := c.suggest(p); alt != "" {
			msg += fmt.Sprintf(" (did you mean /%s?)", shown(alt))
		}
		return c.s.Errorf(field, "%s", msg)
	}
	if verb == "clear" && n.kind != recDir {
		what := kindName(n.kind)
		if n.kind == recSymlink {
			what += " (to " + shown(n.link) + ")"
		}
		return c.s.Errorf(field, "clear needs a directory; /%s is a %s %s: use delete", p, what, c.origin(n))
	}
	return nil
}

// checkAdds checks the layer's added entries (rule 1, and directories over
// symlinks). Each target's parent directory is walked from the root through
// the lower tree as a runtime walks it (securejoin: symlinks followed inside
// the rootfs, missing directories created). The walk ends well at a path the
// layer deletes or clears, or adds as a directory, and at a missing path;
// a non-directory on the way (file, hard link, device, fifo), or a symlink
// loop, is an error reported once per path. Paths are compared after
// resolving their parents, so /lib/x and /usr/lib/x are one path on a
// merged-usr base.
func (c *layerCheck) checkAdds(es []layer.Entry) []*spec.Error {
	// Where the layer removes a path or adds a directory, by resolved path,
	// and the position of that entry in the layer: a runtime applies a
	// layer's entries in order, so only earlier ones count for an entry.
	ownDir := map[string]int{}
	removed := map[string]int{}
	for i, e := range es {
		t := c.lower.canon(strings.TrimPrefix(e.Target, "/"))
		m := ownDir
		switch e.Type {
		case "whiteout", "opaque":
			m = removed
		case "dir":
		default:
			continue
		}
		if _, seen := m[t]; !seen {
			m[t] = i
		}
	}
	var errs []*spec.Error
	reported := map[string]bool{}
	for i, e := range es {
		if e.Type == "whiteout" || e.Type == "opaque" {
			continue
		}
		target := strings.TrimPrefix(e.Target, "/")
		before := func(m map[string]int, p string) bool {
			j, ok := m[p]
			return ok && j < i
		}
		if err := c.checkParents(target, func(p string) bool { return before(removed, p) || before(ownDir, p) }, reported); err != nil {
			errs = append(errs, err)
		}
		// A directory entry where the lower tree has a symlink replaces
		// the symlink (image-spec: an upper entry replaces a lower one):
		// a merged-usr /lib -> usr/lib would silently become a real,
		// empty /lib.
		if e.Type == "dir" {
			ct := c.lower.canon(target)
			// (A delete of the same path makes the replacement intended;
			// strata then writes the directory and an opaque whiteout.)
			_, deleted := removed[ct]
			if n := c.lower.node(ct); n != nil && n.kind == recSymlink && !deleted && !reported[ct] {
				reported[ct] = true
				errs = append(errs, c.s.Errorf(c.fieldFor(target), "/%s: the directory would replace a symlink (to %s) %s; add below its target instead, or delete /%s first",
					target, shown(n.link), c.origin(n), target))
			}
		}
	}
	return errs
}

// checkParents walks target's parent directory through the lower tree (see
// checkAdds) and returns the error for a non-directory or a loop on the way.
func (c *layerCheck) checkParents(target string, replaced func(path string) bool, reported map[string]bool) *spec.Error {
	dir := path.Dir(target)
	if dir == "." {
		return nil
	}
	stop := func(*tnode, string) *tnode { return nil } // missing: the runtime creates it
	comps := strings.Split(dir, "/")
	for i := range comps {
		prefix := strings.Join(comps[:i+1], "/")
		if replaced(c.lower.canon(prefix)) {
			return nil
		}
		n, at, loop := c.lower.walk(prefix, true, stop)
		if replaced(at) {
			return nil // the layer already deleted or replaced what the prefix resolves to
		}
		switch {
		case loop:
			if reported[at] {
				return nil
			}
			reported[at] = true
			return c.s.Errorf(c.fieldFor(target), "/%s: its parent /%s does not resolve: too many levels of symbolic links", target, at)
		case n == nil:
			return nil
		case n.kind != recDir:
			if reported[at] {
				return nil
			}
			reported[at] = true
			return c.s.Errorf(c.fieldFor(target), "/%s: /%s is a %s %s; delete it first or choose another path",
				target, at, kindName(n.kind), c.origin(n))
		}
	}
	return nil
}

// shown makes a name from a base layer safe to print: a hostile base could
// otherwise put terminal escape sequences into strata's messages. Control
// characters are escaped as in a Go string.
func shown(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

// origin says where a lower node comes from, for messages.
func (c *layerCheck) origin(n *tnode) string {
	if n.from < 0 {
		return "in the base"
	}
	if name := c.s.Layers[n.from].Name; name != "" {
		return fmt.Sprintf("in layer %q (layers[%d])", name, n.from)
	}
	return fmt.Sprintf("in layers[%d]", n.from)
}

// fieldFor returns the spec field that most likely produced target in this
// layer: the files[j].dest, dirs[k].path or symlinks[k].path naming it or
// its closest ancestor; else the layer itself.
func (c *layerCheck) fieldFor(target string) string {
	l := c.s.Layers[c.index]
	best, bestLen := fmt.Sprintf("layers[%d]", c.index), -1
	try := func(field, p string) {
		t, err := spec.NormalizeTarget(spec.ExpandPlatform(p, c.platform))
		if err != nil {
			return
		}
		if (t == target || t == "" || strings.HasPrefix(target, t+"/")) && len(t) > bestLen {
			best, bestLen = field, len(t)
		}
	}
	for j, f := range l.Files {
		try(fmt.Sprintf("layers[%d].files[%d].dest", c.index, j), f.Dest)
	}
	for k, d := range l.Dirs {
		try(fmt.Sprintf("layers[%d].dirs[%d].path", c.index, k), d.Path)
	}
	for k, sl := range l.Symlinks {
		try(fmt.Sprintf("layers[%d].symlinks[%d].path", c.index, k), sl.Path)
	}
	return best
}

// suggest returns a path close to p that exists in the lower tree: the first
// missing component of p replaced by its nearest sibling (edit distance at
// most 2, and less than half the name), or "".
func (c *layerCheck) suggest(p string) string {
	comps := strings.Split(p, "/")
	n := c.lower.root
	for i, comp := range comps {
		next := n.kids[comp]
		if next != nil && i < len(comps)-1 {
			if next.kind == recSymlink {
				return "" // resolved lookups failed further on; keep it simple
			}
			n = next
			continue
		}
		if next != nil {
			return ""
		}
		best, bestD := "", 3
		for name := range n.kids {
			d := spec.EditDistance(comp, name)
			if d < bestD && 2*d < max(len(comp), len(name)) || d == bestD && best != "" && name < best {
				best, bestD = name, d
			}
		}
		if best == "" {
			return ""
		}
		return strings.Join(slices.Concat(comps[:i], []string{best}, comps[i+1:]), "/")
	}
	return ""
}

// kindName names a tree node's kind in messages.
func kindName(k byte) string {
	switch k {
	case recDir:
		return "directory"
	case recSymlink:
		return "symlink"
	case recHardlink:
		return "hard link"
	case recChar:
		return "character device"
	case recBlock:
		return "block device"
	case recFifo:
		return "fifo"
	}
	return "file"
}
