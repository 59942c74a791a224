package layer

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// finalize turns the planned entries into the layer's entry list: it merges
// duplicates (two different sources at one target is an error naming both),
// rejects entries below a non-directory, adds whiteouts, drops source
// directories that are not empty in this layer (so the base keeps its
// metadata for them), turns same-inode files into hard links to the first
// path in sort order, and sorts everything (see layerEntry.sortKey).
func (p *planner) finalize() ([]*layerEntry, error) {
	byTarget := make(map[string]*layerEntry, len(p.entries))
	list := make([]*layerEntry, 0, len(p.entries))
	for _, e := range p.entries {
		old, ok := byTarget[e.target]
		if !ok {
			byTarget[e.target] = e
			list = append(list, e)
			continue
		}
		keep, err := p.merge(old, e)
		if err != nil {
			return nil, err
		}
		*old = *keep
	}
	slices.SortFunc(list, func(a, b *layerEntry) int { return strings.Compare(a.target, b.target) })

	below := make(map[string]bool)
	for _, e := range list {
		for a := path.Dir(e.target); a != "."; a = path.Dir(a) {
			if x := byTarget[a]; x != nil && x.kind != kindDir {
				return nil, p.specErr(e.origin, "/%s (from %s) is inside /%s, which %s adds as a %s, not a directory",
					e.target, e.sourceName(), a, p.where(x.origin), x.kind)
			}
			if below[a] {
				break
			}
			below[a] = true
		}
	}

	list, err := p.planWhiteouts(list, byTarget, below)
	if err != nil {
		return nil, err
	}
	list = slices.DeleteFunc(list, func(e *layerEntry) bool { return e.kind == kindDir && e.onlyIfEmpty && below[e.target] })
	linkGroups(list)
	slices.SortFunc(list, func(a, b *layerEntry) int { return strings.Compare(a.sortKey(), b.sortKey()) })
	return list, nil
}

// merge decides what one target holds when two entries name it.
func (p *planner) merge(a, b *layerEntry) (*layerEntry, error) {
	if a.kind == kindDir && b.kind == kindDir {
		switch {
		case a.onlyIfEmpty:
			return b, nil // a declared or later directory wins over a source directory
		case b.onlyIfEmpty:
			return a, nil
		case a.mode == b.mode && a.uid == b.uid && a.gid == b.gid:
			return a, nil
		}
	} else if a.kind == b.kind && a.source == b.source && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.link == b.link {
		return a, nil // the same source matched twice, e.g. by two globs
	}
	return nil, p.specErr(b.origin, "two sources for /%s: %s from %s, and %s from %s",
		b.target, a.sourceName(), p.where(a.origin), b.sourceName(), p.where(b.origin))
}

// sourceName names where an entry comes from in messages.
func (e *layerEntry) sourceName() string {
	if e.source == "spec" {
		return "a declared " + e.kind.String()
	}
	return e.source
}

// where renders a spec field path with its position, when known.
func (p *planner) where(field string) string {
	pos := p.req.Spec.Pos(field)
	if pos.Line > 0 {
		return fmt.Sprintf("%s (%s:%d:%d)", field, pos.File, pos.Line, max(pos.Col, 1))
	}
	return field
}

// linkGroups turns every regular file whose group, mode and owner equal an
// earlier (in target order) file's into a hard link to that file. list must
// be sorted by target.
func linkGroups(list []*layerEntry) {
	first := map[string]*layerEntry{}
	for _, e := range list {
		if e.kind != kindFile || e.group == "" {
			continue
		}
		k := fmt.Sprintf("%s %o %d %d", e.group, e.mode, e.uid, e.gid)
		f, ok := first[k]
		if !ok {
			first[k] = e
			continue
		}
		e.kind, e.link, e.size, e.content = kindHardlink, f.target, 0, nil
	}
}
