package compose

import (
	"path"
	"strings"
)

// tnode is one path of the merged tree.
type tnode struct {
	kind byte
	link string
	from int // the spec layer that put it there, -1 for the base
	kids map[string]*tnode
}

// tree is a merged filesystem tree: the root directory.
type tree struct{ root *tnode }

func newTree() *tree { return &tree{root: &tnode{kind: recDir, from: -1}} }

// apply applies one layer's records: first its whiteouts and opaque
// whiteouts (which only affect lower layers), then its entries in order. An
// entry replaces a lower entry of another kind; a directory over a directory
// keeps the lower contents. Missing parents are created as directories.
func (t *tree) apply(recs []treeRec, from int) {
	for _, r := range recs {
		switch r.kind {
		case recWhiteout:
			dir, base := path.Split(r.name)
			if p := t.node(strings.TrimSuffix(dir, "/")); p != nil {
				delete(p.kids, base)
			}
		case recOpaque:
			if n := t.node(r.name); n != nil && n.kind == recDir {
				n.kids = nil
			}
		}
	}
	for _, r := range recs {
		if r.kind == recWhiteout || r.kind == recOpaque || r.name == "" {
			continue
		}
		parent := t.root
		comps := strings.Split(r.name, "/")
		for _, c := range comps[:len(comps)-1] {
			n := parent.kids[c]
			if n == nil || n.kind != recDir {
				n = &tnode{kind: recDir, from: from}
				parent.set(c, n)
			}
			parent = n
		}
		last := comps[len(comps)-1]
		if old := parent.kids[last]; old != nil && old.kind == recDir && r.kind == recDir {
			continue
		}
		parent.set(last, &tnode{kind: r.kind, link: r.link, from: from})
	}
}

// set makes n the child c of d.
func (d *tnode) set(c string, n *tnode) {
	if d.kids == nil {
		d.kids = map[string]*tnode{}
	}
	d.kids[c] = n
}

// node returns the node at p (no symlinks followed), or nil.
func (t *tree) node(p string) *tnode {
	n := t.root
	if p == "" {
		return n
	}
	for _, c := range strings.Split(p, "/") {
		if n = n.kids[c]; n == nil {
			return nil
		}
	}
	return n
}

// maxLinkHops bounds symlink resolution, as the kernel's ELOOP does.
const maxLinkHops = 40

// resolve looks p up, following symlinked ancestors (and the last
// component when followLast) inside the tree, as a runtime resolves them
// inside the rootfs. It returns the node and its resolved path, or nil and
// the deepest resolved path that exists plus the first missing component.
func (t *tree) resolve(p string, followLast bool) (n *tnode, at string, missing string) {
	todo := strings.Split(p, "/")
	var stack []string
	nodes := []*tnode{t.root}
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 0 {
				stack, nodes = stack[:len(stack)-1], nodes[:len(nodes)-1]
			}
			continue
		}
		cur := nodes[len(nodes)-1]
		if cur.kind != recDir {
			return nil, strings.Join(stack, "/"), c
		}
		next := cur.kids[c]
		if next == nil {
			return nil, strings.Join(stack, "/"), c
		}
		if next.kind == recSymlink && (len(todo) > 0 || followLast) {
			if hops++; hops > maxLinkHops {
				return nil, strings.Join(stack, "/"), c
			}
			link := strings.Split(next.link, "/")
			if strings.HasPrefix(next.link, "/") {
				stack, nodes = nil, nodes[:1]
			}
			todo = append(link, todo...)
			continue
		}
		stack = append(stack, c)
		nodes = append(nodes, next)
	}
	return nodes[len(nodes)-1], strings.Join(stack, "/"), ""
}
