package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits on YAML documents, so that a hostile spec cannot exhaust memory
// through anchors and aliases ("billion laughs") or nesting.
const (
	maxNodes = 100_000
	maxDepth = 64
)

// yamlReader turns a YAML document into a node tree, collecting problems.
type yamlReader struct {
	file  string
	nodes int
	errs  ErrorList
}

// parseYAML parses data as one YAML document.
func parseYAML(file string, data []byte) (*node, ErrorList) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrorList{{Pos: Position{File: file, Line: 1, Col: 1}, Msg: "empty spec; want a mapping with at least base"}}
		}
		return nil, ErrorList{yamlSyntaxError(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, ErrorList{{Pos: Position{File: file, Line: extra.Line, Col: extra.Column}, Msg: "a second YAML document; a spec file holds exactly one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, ErrorList{yamlSyntaxError(file, err)}
	}
	r := &yamlReader{file: file}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, ErrorList{{Pos: Position{File: file, Line: 1, Col: 1}, Msg: "empty spec; want a mapping with at least base"}}
		}
		root = root.Content[0]
	}
	n := r.convert(root, "", 0)
	if n.kind != kindMap {
		return nil, append(r.errs, &Error{Pos: n.pos, Msg: fmt.Sprintf("the spec is %s; want a mapping with at least base", n.kind.describe())})
	}
	if r.nodes > maxNodes {
		return nil, r.errs
	}
	// Other problems (duplicate keys, odd tags) are reported together with
	// the schema's findings.
	return n, r.errs
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError positions a yaml.v3 syntax error ("yaml: line N: …").
func yamlSyntaxError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Pos: Position{File: file, Line: line, Col: 1}, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{Pos: Position{File: file, Line: 1, Col: 1}, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func (r *yamlReader) pos(n *yaml.Node) Position {
	return Position{File: r.file, Line: n.Line, Col: n.Column}
}

func (r *yamlReader) errorf(n *yaml.Node, path, format string, args ...any) {
	r.errs = append(r.errs, &Error{Pos: r.pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// convert turns one YAML node into a tree node. Aliases are expanded within
// the node budget.
func (r *yamlReader) convert(y *yaml.Node, path string, depth int) *node {
	r.nodes++
	if r.nodes > maxNodes || depth > maxDepth {
		if r.nodes == maxNodes+1 || depth == maxDepth+1 {
			r.errorf(y, "", "spec too large or too deeply nested (more than %d values or %d levels, counting alias expansions)", maxNodes, maxDepth)
		}
		return &node{kind: kindNull, pos: r.pos(y)}
	}
	switch y.Kind {
	case yaml.AliasNode:
		n := r.convert(y.Alias, path, depth+1)
		c := *n
		c.pos = r.pos(y)
		return &c
	case yaml.ScalarNode:
		return r.scalar(y, path)
	case yaml.SequenceNode:
		n := &node{kind: kindList, pos: r.pos(y)}
		for i, c := range y.Content {
			n.items = append(n.items, r.convert(c, joinIndex(path, i), depth+1))
		}
		return n
	case yaml.MappingNode:
		return r.mapping(y, path, depth)
	}
	r.errorf(y, path, "unsupported YAML node")
	return &node{kind: kindNull, pos: r.pos(y)}
}

// mapping converts a YAML mapping: keys must be unique strings; "<<" merge
// keys are applied (explicit keys win).
func (r *yamlReader) mapping(y *yaml.Node, path string, depth int) *node {
	n := &node{kind: kindMap, pos: r.pos(y)}
	seen := map[string]*yaml.Node{}
	var merges []*node
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			m := r.convert(v, path, depth+1)
			switch m.kind {
			case kindMap:
				merges = append(merges, m)
			case kindList:
				for _, it := range m.items {
					if it.kind != kindMap {
						r.errorf(v, path, "merge key << wants a mapping or a list of mappings")
						break
					}
					merges = append(merges, it)
				}
			default:
				r.errorf(v, path, "merge key << wants a mapping or a list of mappings")
			}
			continue
		}
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!float" && k.Tag != "!!bool" && k.Tag != "!!null") {
			r.errorf(k, path, "mapping keys must be plain strings")
			continue
		}
		key := k.Value
		if prev, dup := seen[key]; dup {
			r.errorf(k, joinKey(path, key), "duplicate key %q (first defined at line %d); remove one of them", key, prev.Line)
			continue
		}
		seen[key] = k
		child := r.convert(v, joinKey(path, key), depth+1)
		child.keyPos = r.pos(k)
		n.fields = append(n.fields, field{key: key, val: child})
	}
	for _, m := range merges {
		for _, f := range m.fields {
			if _, ok := seen[f.key]; ok {
				continue
			}
			seen[f.key] = y
			n.fields = append(n.fields, f)
		}
	}
	return n
}

// scalar converts a YAML scalar by its resolved tag.
func (r *yamlReader) scalar(y *yaml.Node, path string) *node {
	n := &node{pos: r.pos(y), raw: y.Value}
	switch y.ShortTag() {
	case "!!null":
		n.kind = kindNull
	case "!!bool":
		var b bool
		if err := y.Decode(&b); err != nil {
			r.errorf(y, path, "invalid boolean %q", y.Value)
		}
		n.kind, n.b = kindBool, b
	case "!!int":
		n.kind, n.num = kindInt, "0"
		var v any
		if err := y.Decode(&v); err == nil {
			switch x := v.(type) {
			case int:
				n.num = strconv.Itoa(x)
			case int64:
				n.num = strconv.FormatInt(x, 10)
			case uint64:
				n.num = strconv.FormatUint(x, 10)
			}
		}
	case "!!float":
		n.kind, n.num = kindFloat, "0.0"
		var f float64
		if err := y.Decode(&f); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			s := strconv.FormatFloat(f, 'f', -1, 64)
			if !strings.Contains(s, ".") {
				s += ".0"
			}
			if len(s) < 400 {
				n.num = s
			}
		}
	case "!!str", "!!timestamp":
		n.kind, n.str = kindString, y.Value
	default:
		r.errorf(y, path, "unsupported YAML tag %s; write a plain string, number, boolean, list or mapping", y.Tag)
		n.kind = kindNull
	}
	return n
}
