package spec

import (
	"errors"
	"fmt"
	"strings"
)

// platformVars are left in src values for ExpandPlatform.
var platformVars = map[string]bool{"TARGETOS": true, "TARGETARCH": true, "TARGETVARIANT": true}

// expander expands ${VAR} references in the fields that allow them.
type expander struct {
	opts LoadOptions
	errs ErrorList
}

// lookup finds a variable: Vars first, then LookupEnv.
func (x *expander) lookup(name string) (string, bool) {
	if v, ok := x.opts.Vars[name]; ok {
		return v, true
	}
	if x.opts.LookupEnv != nil {
		return x.opts.LookupEnv(name)
	}
	return "", false
}

// tree expands every variable-bearing string of the spec tree in place:
// tags, semver, image, labels, annotations, env values and file sources.
func (x *expander) tree(root *node) {
	str := func(n *node, path string, keepPlatform bool) {
		if n == nil || n.kind != kindString {
			return
		}
		out, err := expandVars(n.str, x.lookup, keepPlatform)
		if err != nil {
			x.errs = append(x.errs, &Error{Pos: n.pos, Path: path, Msg: err.Error()})
			return
		}
		n.str = out
	}
	each := func(n *node, path string, fn func(*node, string)) {
		if n == nil {
			return
		}
		switch n.kind {
		case kindList:
			for i, it := range n.items {
				fn(it, joinIndex(path, i))
			}
		case kindMap:
			for _, f := range n.fields {
				fn(f.val, joinKey(path, f.key))
			}
		}
	}
	plain := func(n *node, path string) { str(n, path, false) }
	if sv := root.lookup("semver"); sv != nil && sv.kind == kindString && x.opts.SemverOptional {
		var undef undefinedError
		if _, err := expandVars(sv.str, x.lookup, false); errors.As(err, &undef) {
			if x.opts.Warn != nil {
				x.opts.Warn(&Error{Pos: sv.pos, Path: "semver", Msg: fmt.Sprintf("%s is not set; no semver tags (only push needs them)", undef.name)})
			}
			root.remove("semver")
		}
	}
	str(root.lookup("semver"), "semver", false)
	str(root.lookup("image"), "image", false)
	each(root.lookup("tags"), "tags", plain)
	each(root.lookup("annotations"), "annotations", plain)
	if cfg := root.lookup("config"); cfg != nil && cfg.kind == kindMap {
		each(cfg.lookup("labels"), "config.labels", plain)
		each(cfg.lookup("env"), "config.env", plain)
	}
	each(root.lookup("layers"), "layers", func(l *node, lp string) {
		if l.kind != kindMap {
			return
		}
		each(l.lookup("files"), lp+".files", func(f *node, fp string) {
			if f.kind == kindMap {
				str(f.lookup("src"), fp+".src", true)
			}
		})
	})
}

// undefinedError is expandVars' error for a variable that is not set and
// has no default.
type undefinedError struct{ name string }

func (e undefinedError) Error() string {
	return fmt.Sprintf("undefined variable %s; set it in the environment or with --set %s=VALUE, or write ${%s:-default}", e.name, e.name, e.name)
}

// expandVars expands ${NAME} and ${NAME:-default} in s; "$$" is a literal
// dollar and any other "$" is kept as is. With keepPlatform,
// ${TARGETOS}, ${TARGETARCH} and ${TARGETVARIANT} are left for
// ExpandPlatform.
func expandVars(s string, lookup func(string) (string, bool), keepPlatform bool) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated variable reference %q; write ${NAME} or ${NAME:-default}, or $$ for a literal $", s[i:])
		}
		body := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(body, ":-")
		if !isIdent(name) {
			return "", fmt.Errorf("invalid variable reference ${%s}; write ${NAME} or ${NAME:-default} with NAME matching [A-Za-z_][A-Za-z0-9_]*", body)
		}
		i += 2 + end + 1
		if keepPlatform && platformVars[name] && !hasDef {
			b.WriteString("${" + name + "}")
			continue
		}
		v, ok := lookup(name)
		switch {
		case ok && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			return "", undefinedError{name}
		}
	}
	return b.String(), nil
}
