package spec

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// nodeKind is the kind of a value in a parsed spec document.
type nodeKind int

const (
	kindNull nodeKind = iota
	kindBool
	kindInt
	kindFloat
	kindString
	kindList
	kindMap
)

// describe names a kind the way messages show it.
func (k nodeKind) describe() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindInt, kindFloat:
		return "a number"
	case kindString:
		return "a string"
	case kindList:
		return "a list"
	case kindMap:
		return "a mapping"
	}
	return "a value"
}

// node is one value of a spec document, format-neutral: both YAML and CUE
// specs are turned into a node tree, which is variable-expanded, checked
// against the schema and then decoded.
type node struct {
	kind   nodeKind
	pos    Position // of the value
	keyPos Position // of the key, when the node is a mapping value
	raw    string   // scalar text as written (YAML), for messages
	str    string   // string value
	b      bool
	num    string // CUE literal for numbers
	fields []field
	items  []*node
}

// field is one key of a mapping node.
type field struct {
	key string
	val *node
}

// lookup returns the field named key of a mapping node.
func (n *node) lookup(key string) *node {
	for _, f := range n.fields {
		if f.key == key {
			return f.val
		}
	}
	return nil
}

// remove drops the field named key of a mapping node.
func (n *node) remove(key string) {
	out := n.fields[:0]
	for _, f := range n.fields {
		if f.key != key {
			out = append(out, f)
		}
	}
	n.fields = out
}

// show renders a scalar for a message: its text as written, quoted if it is a
// string.
func (n *node) show() string {
	switch n.kind {
	case kindString:
		return strconv.Quote(n.str)
	case kindList:
		return "a list"
	case kindMap:
		return "a mapping"
	}
	if n.raw != "" {
		return n.raw
	}
	if n.kind == kindBool {
		return strconv.FormatBool(n.b)
	}
	return n.num
}

// expr converts the tree to a CUE expression (without positions: errors are
// located through the tree, by field path).
func (n *node) expr() ast.Expr {
	switch n.kind {
	case kindNull:
		return &ast.BasicLit{Kind: token.NULL, Value: "null"}
	case kindBool:
		return ast.NewBool(n.b)
	case kindInt:
		return &ast.BasicLit{Kind: token.INT, Value: n.num}
	case kindFloat:
		return &ast.BasicLit{Kind: token.FLOAT, Value: n.num}
	case kindString:
		return ast.NewString(n.str)
	case kindList:
		l := &ast.ListLit{}
		for _, it := range n.items {
			l.Elts = append(l.Elts, it.expr())
		}
		return l
	}
	s := &ast.StructLit{}
	for _, f := range n.fields {
		s.Elts = append(s.Elts, &ast.Field{Label: ast.NewString(f.key), Value: f.val.expr()})
	}
	return s
}

// joinPath appends a mapping key to a field path: identifiers as .key,
// anything else as ["key"].
func joinKey(path, key string) string {
	if isIdent(key) {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// joinIndex appends a list index to a field path.
func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// record fills positions with the position of every field path of the tree.
// Scalars are positioned at their value, mappings and lists at their key.
func (n *node) record(path string, positions map[string]Position) {
	pos := n.pos
	if (n.kind == kindMap || n.kind == kindList) && n.keyPos.Line > 0 {
		pos = n.keyPos
	}
	if path != "" && pos.Line > 0 {
		positions[path] = pos
	}
	switch n.kind {
	case kindMap:
		for _, f := range n.fields {
			f.val.record(joinKey(path, f.key), positions)
		}
	case kindList:
		for i, it := range n.items {
			it.record(joinIndex(path, i), positions)
		}
	}
}

// at returns the node at a CUE error path (segments as CUE reports them),
// and its field path in strata's notation.
func (n *node) at(segs []string) (*node, string, bool) {
	cur, path := n, ""
	for _, s := range segs {
		switch cur.kind {
		case kindList:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(cur.items) {
				return cur, path, false
			}
			cur, path = cur.items[i], joinIndex(path, i)
		case kindMap:
			key := s
			if strings.HasPrefix(s, `"`) {
				if u, err := strconv.Unquote(s); err == nil {
					key = u
				}
			}
			next := cur.lookup(key)
			path = joinKey(path, key)
			if next == nil {
				return cur, path, false
			}
			cur = next
		default:
			return cur, path, false
		}
	}
	return cur, path, true
}

// atPath returns the node at a field path in strata's notation
// (layers[0].files[1].dest, config.env["1A"]).
func (n *node) atPath(path string) (*node, string, bool) {
	var segs []string
	for i := 0; i < len(path); {
		switch path[i] {
		case '.':
			i++
		case '[':
			end := strings.IndexByte(path[i:], ']')
			if strings.HasPrefix(path[i:], `["`) {
				// A quoted key: find the closing quote, honouring escapes.
				j := i + 2
				for j < len(path) && path[j] != '"' {
					if path[j] == '\\' {
						j++
					}
					j++
				}
				end = j + 1 - i
			}
			if end < 0 || i+end >= len(path)+1 {
				return n, "", false
			}
			seg := path[i+1 : i+end]
			segs = append(segs, seg)
			i += end + 1
		default:
			j := i
			for j < len(path) && path[j] != '.' && path[j] != '[' {
				j++
			}
			segs = append(segs, path[i:j])
			i = j
		}
	}
	return n.at(segs)
}
