package layer

import (
	"fmt"
	"path"

	"github.com/strata-build/strata/spec"
)

// planWhiteouts adds the layer's delete and clear entries to list.
//
// A whiteout only applies to lower layers (image-spec layer.md), and
// extractors differ on an entry that shares a layer with a whiteout of the
// same path: containerd's naive applier removes "foo" when it meets
// ".wh.foo" whatever this layer already wrote there, its overlay applier turns
// ".wh.foo" into a 0/0 character device at "foo", which a later "foo/x" cannot
// be created below, and umoci removes the path from the merged tree. So a
// path that is deleted and added again in one layer is encoded without a
// whiteout of that path:
//
//   - deleted P, nothing added at or below P: "P/../.wh.<base>".
//   - deleted P, the layer adds a file, symlink or hard link at P and nothing
//     below it: no whiteout; the new entry replaces whatever a lower layer
//     had at P (a non-directory in an upper layer hides a lower directory).
//   - deleted P, the layer adds a directory at P or anything below P: a
//     directory entry for P (the declared one, or 0755 0:0) followed by the
//     opaque whiteout "P/.wh..wh..opq", which hides all of P's lower contents
//     and is applied before anything this layer puts in P (it sorts first in
//     its directory, and containerd keeps paths the same layer unpacked).
//
// clear P is the opaque whiteout "P/.wh..wh..opq" without a directory entry,
// so P keeps the base's metadata. Deletes and clears below a deleted path are
// redundant and dropped; deleting and clearing one path is an error, as are
// deleting or clearing "/". Whiteouts sort before their siblings.
func (p *planner) planWhiteouts(list []*layerEntry, byTarget map[string]*layerEntry, below map[string]bool) ([]*layerEntry, error) {
	type req struct {
		target, field string
	}
	var dels, clears []req
	deleted := map[string]string{}
	for k, d := range p.layer.Delete {
		field := fmt.Sprintf("%s.delete[%d]", p.field, k)
		t, err := spec.NormalizeTarget(d)
		if err != nil {
			return nil, p.specErr(field, "%v", err)
		}
		if t == "" {
			return nil, p.specErr(field, "cannot delete /; use base: scratch to start from an empty image")
		}
		if hasWhiteoutName(t) {
			return nil, p.specErr(field, "%q: names starting with .wh. are reserved for whiteouts", d)
		}
		deleted[t] = field
		dels = append(dels, req{t, field})
	}
	for k, c := range p.layer.Clear {
		field := fmt.Sprintf("%s.clear[%d]", p.field, k)
		t, err := spec.NormalizeTarget(c)
		if err != nil {
			return nil, p.specErr(field, "%v", err)
		}
		if t == "" {
			return nil, p.specErr(field, "cannot clear /; use base: scratch to start from an empty image")
		}
		if hasWhiteoutName(t) {
			return nil, p.specErr(field, "%q: names starting with .wh. are reserved for whiteouts", c)
		}
		if df, ok := deleted[t]; ok {
			return nil, p.specErr(field, "/%s is also deleted by %s; use one of delete or clear", t, p.where(df))
		}
		clears = append(clears, req{t, field})
	}
	underDeleted := func(t string) bool {
		for a := path.Dir(t); a != "."; a = path.Dir(a) {
			if _, ok := deleted[a]; ok {
				return true
			}
		}
		return false
	}
	added := map[string]bool{}
	for _, d := range dels {
		if underDeleted(d.target) || added[d.target] {
			continue
		}
		added[d.target] = true
		at := byTarget[d.target]
		switch {
		case at == nil && !below[d.target]:
			list = append(list, &layerEntry{target: d.target, kind: kindWhiteout, source: "spec", origin: d.field})
		case at != nil && at.kind != kindDir && !below[d.target]:
			// The added entry replaces the lower path; no whiteout needed.
		default:
			if at == nil {
				at = &layerEntry{target: d.target, kind: kindDir, mode: 0o755, source: "spec", origin: d.field}
				byTarget[d.target] = at
				list = append(list, at)
			}
			at.onlyIfEmpty = false
			list = append(list, &layerEntry{target: d.target, kind: kindOpaque, source: "spec", origin: d.field})
		}
	}
	for _, c := range clears {
		if underDeleted(c.target) || added["\x00"+c.target] {
			continue
		}
		added["\x00"+c.target] = true
		if at := byTarget[c.target]; at != nil && at.kind != kindDir {
			return nil, p.specErr(c.field, "cannot clear /%s: %s adds a %s there, not a directory", c.target, p.where(at.origin), at.kind)
		}
		list = append(list, &layerEntry{target: c.target, kind: kindOpaque, source: "spec", origin: c.field})
	}
	return list, nil
}
