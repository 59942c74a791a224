package basetree

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
// keeps the lower contents. Parents are reached as a runtime reaches them
// when it unpacks a layer (securejoin): symlinked parents are followed inside
// the tree, missing ones are created as directories. A record whose parent
// is not a directory (it could not be unpacked) or loops is skipped.
func (t *tree) apply(recs []treeRec, from int) {
	for _, r := range recs {
		switch r.kind {
		case recWhiteout:
			dir, base := path.Split(r.name)
			if p := t.walkDir(strings.TrimSuffix(dir, "/"), false, from); p != nil {
				delete(p.kids, base)
			}
		case recOpaque:
			if n := t.walkDir(r.name, false, from); n != nil {
				n.kids = nil
			}
		}
	}
	for _, r := range recs {
		if r.kind == recWhiteout || r.kind == recOpaque || r.name == "" {
			continue
		}
		dir, last := path.Split(r.name)
		parent := t.walkDir(strings.TrimSuffix(dir, "/"), true, from)
		if parent == nil {
			continue
		}
		if old := parent.kids[last]; old != nil && old.kind == recDir && r.kind == recDir {
			continue
		}
		parent.set(last, &tnode{kind: r.kind, link: r.link, from: from})
	}
}

// walkDir returns the directory at p, following symlinks inside the tree as
// a runtime does. With create, missing components become directories (from
// layer from); without, a missing component gives nil. A component that is
// neither a directory nor a symlink, or too many links, gives nil.
func (t *tree) walkDir(p string, create bool, from int) *tnode {
	n, _, _ := t.walk(p, true, func(cur *tnode, c string) *tnode {
		if !create {
			return nil
		}
		d := &tnode{kind: recDir, from: from}
		cur.set(c, d)
		return d
	})
	if n == nil || n.kind != recDir {
		return nil
	}
	return n
}

// walk resolves the path p from the root, following symlinked parents, and
// the last component too when followLast. missing is called for a
// component that does not exist; it returns the node to use, or nil to stop.
// walk returns the node reached and its resolved path; on a stop it returns
// the node it stopped at (a non-directory, or nil), the resolved path of that
// node, and loop=true when symlinks nested more than maxLinkHops deep.
func (t *tree) walk(p string, followLast bool, missing func(cur *tnode, c string) *tnode) (n *tnode, at string, loop bool) {
	var todo []string
	if p != "" {
		todo = strings.Split(p, "/")
	}
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
			return cur, strings.Join(stack, "/"), false
		}
		next := cur.kids[c]
		if next == nil {
			if next = missing(cur, c); next == nil {
				return nil, path.Join(strings.Join(stack, "/"), c), false
			}
		}
		if next.kind == recSymlink && (len(todo) > 0 || followLast) {
			if hops++; hops > maxLinkHops {
				return nil, path.Join(strings.Join(stack, "/"), c), true
			}
			if strings.HasPrefix(next.link, "/") {
				stack, nodes = nil, nodes[:1]
			}
			todo = append(strings.Split(next.link, "/"), todo...)
			continue
		}
		stack = append(stack, c)
		nodes = append(nodes, next)
	}
	return nodes[len(nodes)-1], strings.Join(stack, "/"), false
}

// canon returns p with its parent directories resolved through the tree's
// symlinks (the last component is not followed); components past a missing
// or non-directory parent are kept as written.
func (t *tree) canon(p string) string {
	dir, last := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	var rest []string
	for {
		n, at, _ := t.walk(dir, true, func(*tnode, string) *tnode { return nil })
		if n != nil && n.kind == recDir {
			return path.Join(append([]string{at}, append(rest, last)...)...)
		}
		if dir == "" {
			return p
		}
		d, b := path.Split(dir)
		rest = append([]string{b}, rest...)
		dir = strings.TrimSuffix(d, "/")
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

// resolve looks p up, following symlinked ancestors (and the last component
// when followLast) inside the tree, as a runtime resolves them inside the
// rootfs. It returns nil when p does not exist or does not resolve.
func (t *tree) resolve(p string, followLast bool) *tnode {
	stop := func(*tnode, string) *tnode { return nil }
	// walk stops at a non-directory on the way and returns it: below a
	// file, p does not exist.
	if dir := path.Dir(p); dir != "." {
		if d, _, _ := t.walk(dir, true, stop); d == nil || d.kind != recDir {
			return nil
		}
	}
	n, _, _ := t.walk(p, followLast, stop)
	return n
}
