package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// cueErrorMap maps the errors of evaluating a user's CUE package to strata
// errors.
type cueErrorMap struct {
	display func(string) string
	target  string
	// own holds the loaded package's files; lits the positions of literal
	// values (1, "x", -2, true) in it and its imports, so that an error is
	// placed at the value the user wrote rather than at the constraint it
	// violates.
	own  map[string]bool
	lits map[Position]bool
}

// indexLiterals records the positions of inst's literals and its files.
func (m *cueErrorMap) indexLiterals(inst *build.Instance) {
	m.own, m.lits = map[string]bool{}, map[Position]bool{}
	for _, f := range inst.Files {
		m.own[f.Filename] = true
	}
	seen := map[*build.Instance]bool{}
	var visit func(*build.Instance)
	visit = func(in *build.Instance) {
		if in == nil || seen[in] {
			return
		}
		seen[in] = true
		for _, f := range in.Files {
			ast.Walk(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.BasicLit:
					m.lits[rawPos(x.Pos())] = true
				case *ast.UnaryExpr: // -1, +1
					if _, ok := x.X.(*ast.BasicLit); ok && (x.Op == token.SUB || x.Op == token.ADD) {
						m.lits[rawPos(x.Pos())] = true
					}
				}
				return true
			}, nil)
		}
		for _, imp := range in.Imports {
			visit(imp)
		}
	}
	visit(inst)
}

// rawPos is p with the file name as CUE has it.
func rawPos(p token.Pos) Position {
	pp := p.Position()
	return Position{File: pp.Filename, Line: pp.Line, Col: pp.Column}
}

// user reports whether p is a valid position outside the embedded schema.
func user(p token.Pos) bool { return p.IsValid() && p.Filename() != schemaFilename }

// place picks where an error is reported: the literal value the user wrote
// (in the package's own files first), else the first position CUE gives.
// other is the second place involved (the constraint, or the other value of
// a conflict), if any.
func (m *cueErrorMap) place(e cueerrors.Error) (at, other token.Pos) {
	var cands []token.Pos
	for _, p := range append(e.InputPositions(), e.Position()) {
		if user(p) {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return token.NoPos, token.NoPos
	}
	at = cands[0]
	if len(e.InputPositions()) == 0 {
		at = cands[len(cands)-1] // only the error's own position
	}
	pick := func(ok func(token.Pos) bool) bool {
		for _, p := range cands {
			if ok(p) {
				at = p
				return true
			}
		}
		return false
	}
	_ = pick(func(p token.Pos) bool { return m.lits[rawPos(p)] && m.own[p.Filename()] }) ||
		pick(func(p token.Pos) bool { return m.lits[rawPos(p)] })
	if c := e.Position(); user(c) && rawPos(c) != rawPos(at) {
		return at, c
	}
	for _, p := range cands {
		if rawPos(p) != rawPos(at) {
			return at, p
		}
	}
	return at, token.NoPos
}

// errors maps CUE errors to strata errors: positions in the embedded
// schema are dropped, the error is placed at the user's value, the CUE path
// is rewritten in strata's notation and constraint violations say what is
// valid and where the constraint is.
//
// An error CUE reports without a position is placed at the value at its
// path in v, or else at the start of the spec.
func (m *cueErrorMap) errors(err error, incompletePrefix string, v cue.Value) ErrorList {
	var out ErrorList
	for _, e := range withoutNoise(cueerrors.Errors(err)) {
		var pos Position
		at, other := m.place(e)
		if at.IsValid() {
			pos = m.pos(at)
		}
		if pos.Line == 0 && v.Exists() && len(e.Path()) > 0 {
			if p := v.LookupPath(cue.ParsePath(strings.Join(e.Path(), "."))).Pos(); user(p) {
				pos = m.pos(p)
			}
		}
		if pos.Line == 0 {
			pos = Position{File: m.target, Line: 1, Col: 1}
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if full := e.Error(); msg == "" {
			// A plain error CUE wrapped (e.g. from the file system).
			msg = cuePosRE.ReplaceAllString(full, "")
		} else if strings.HasPrefix(full, msg+": ") {
			// A wrapped cause, e.g. why an import failed, without the
			// positions CUE puts in its text.
			msg = cuePosRE.ReplaceAllString(full, "")
		}
		if strings.HasPrefix(msg, "import failed") && !strings.Contains(msg, "strata loads CUE specs offline") {
			msg += "; imports resolve inside your CUE module only and are never fetched; the strata schema needs no import (strata unifies your value with #Image)"
		}
		if incompletePrefix != "" && strings.HasPrefix(msg, "incomplete value") {
			msg = incompletePrefix + " (" + strings.TrimPrefix(msg, "incomplete value ") + "); give it a concrete value"
		}
		msg = m.explain(msg, pos, other)
		out = append(out, &Error{Pos: pos, Path: cuePath(e.Path()), Msg: msg})
	}
	if len(out) == 0 {
		out = append(out, &Error{Pos: Position{File: m.target, Line: 1, Col: 1}, Msg: err.Error()})
	}
	return out
}

// withoutNoise drops the errors that only restate another one:
//
//   - the "N errors in empty disjunction:" headline, whose causes follow it;
//   - within such a disjunction, the conflict with a default ("conflicting
//     values 8080 and 70000" for *8080 | int & <65536) when another branch
//     says what is wrong with the user's value;
//   - "invalid interpolation" at a path that has a real error: the
//     interpolation failed because of it.
//
// The order of the rest is kept.
func withoutNoise(errs []cueerrors.Error) []cueerrors.Error {
	msg := func(e cueerrors.Error) string {
		f, a := e.Msg()
		return fmt.Sprintf(f, a...)
	}
	key := func(e cueerrors.Error) string { return strings.Join(e.Path(), ".") }
	disjunction := map[string]bool{} // paths with an empty disjunction
	cause := map[string]bool{}       // paths with an error that is not a conflict or interpolation
	for _, e := range errs {
		switch m := msg(e); {
		case emptyDisjunctionRE.MatchString(m):
			disjunction[key(e)] = true
		case strings.HasPrefix(m, "conflicting values "), m == "invalid interpolation":
		default:
			cause[key(e)] = true
		}
	}
	var out []cueerrors.Error
	seen := map[string]bool{}
	for _, e := range errs {
		m, k := msg(e), key(e)
		switch {
		case emptyDisjunctionRE.MatchString(m) && len(errs) > 1:
			continue
		case strings.HasPrefix(m, "conflicting values ") && disjunction[k] && cause[k]:
			continue
		case m == "invalid interpolation" && (cause[k] || disjunction[k]):
			continue
		}
		id := k + "\x00" + m + "\x00" + e.Position().String()
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, e)
	}
	if len(out) == 0 {
		return errs
	}
	return out
}

func (m *cueErrorMap) pos(p token.Pos) Position {
	r := rawPos(p)
	r.File = m.display(r.File)
	return r
}

var (
	// cuePosRE matches a "FILE:LINE:COL: " prefix inside CUE's error text.
	cuePosRE = regexp.MustCompile(`[^\s:]+:\d+:\d+: `)
	// emptyDisjunctionRE matches the headline of a disjunction none of
	// whose branches unified.
	emptyDisjunctionRE = regexp.MustCompile(`^\d+ errors in empty disjunction:?$`)
	// outOfBoundRE and notSatisfyRE match CUE's constraint violations.
	outOfBoundRE = regexp.MustCompile(`^invalid value (.+) \(out of bound (.+)\)$`)
	notSatisfyRE = regexp.MustCompile(`^invalid value (.+) \(does not satisfy (.+)\)$`)
)

// explain rewords a constraint violation to say what is valid and where
// the constraint (or the conflicting value) is written.
func (m *cueErrorMap) explain(msg string, pos Position, other token.Pos) string {
	where := ""
	if user(other) {
		o := m.pos(other)
		if o.File == pos.File {
			where = fmt.Sprintf("line %d:%d", o.Line, o.Col)
		} else {
			where = fmt.Sprintf("%s:%d:%d", o.File, o.Line, o.Col)
		}
	}
	at := func(what string) string {
		if where == "" {
			return ""
		}
		return " (" + what + " at " + where + ")"
	}
	if g := outOfBoundRE.FindStringSubmatch(msg); g != nil {
		bound := g[2]
		want := "want a value " + bound
		switch {
		case strings.HasPrefix(bound, "=~"):
			want = "want a string matching " + strings.TrimPrefix(bound, "=~")
		case strings.HasPrefix(bound, "!~"):
			want = "want a string not matching " + strings.TrimPrefix(bound, "!~")
		case strings.HasPrefix(bound, "!="):
			want = "want any value but " + strings.TrimPrefix(bound, "!=")
		}
		return "invalid value " + g[1] + "; " + want + at("constraint")
	}
	if g := notSatisfyRE.FindStringSubmatch(msg); g != nil {
		return "invalid value " + g[1] + "; want a value that satisfies " + g[2] + at("constraint")
	}
	if strings.HasPrefix(msg, "conflicting values ") {
		return msg + "; a field has one value: make them agree" + at("the other")
	}
	return msg
}

// cuePath renders CUE path segments in strata's notation: digits as list
// indices, identifiers joined with dots, other keys as ["key"].
func cuePath(segs []string) string {
	path := ""
	for _, s := range segs {
		if i, err := strconv.Atoi(s); err == nil && i >= 0 {
			path = joinIndex(path, i)
			continue
		}
		if u, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
			s = u
		}
		if strings.HasPrefix(s, "#") && isIdent(s[1:]) {
			// A definition of the user's, such as #replicas.
			if path != "" {
				path += "."
			}
			path += s
			continue
		}
		path = joinKey(path, s)
	}
	return path
}

// literal returns the source text of v when v is written as a literal
// number at its field (0o755, -1), or "".
func literal(v cue.Value) string {
	f, ok := v.Source().(*ast.Field)
	if !ok {
		return ""
	}
	switch x := f.Value.(type) {
	case *ast.BasicLit:
		return x.Value
	case *ast.UnaryExpr:
		if l, ok := x.X.(*ast.BasicLit); ok && x.Op == token.SUB {
			return "-" + l.Value
		}
	}
	return ""
}

// yamlAdvice is the part of the schema's mode hints that only makes sense
// for YAML.
const yamlAdvice = "; a bare YAML number like 0755 must be quoted"

// cueWording rewords a schema message for a .cue spec: a number given as a
// mode gets CUE advice (quote it, in octal), and YAML advice is dropped.
func cueWording(msg, path string, n *node, found bool) string {
	if found && (path == "mode" || strings.HasSuffix(path, ".mode")) && (n.kind == kindInt || n.kind == kindFloat) {
		return `must be a quoted octal string such as "0644" or "0755"; got the number ` + n.show() + modeSuggestion(n)
	}
	return strings.ReplaceAll(msg, yamlAdvice, "")
}

// modeSuggestion suggests the quoted string for a number given as a mode:
// 0o755 (and 493, its value) → "0755"; 755, whose digits are octal, →
// "0755" too, as that is what was meant.
func modeSuggestion(n *node) string {
	raw := strings.ToLower(n.show())
	digits := ""
	switch {
	case strings.HasPrefix(raw, "0o"):
		digits = raw[2:]
	case isOctalDigits(raw):
		digits = raw
	default:
		if v, err := strconv.ParseUint(n.num, 10, 32); err == nil && v <= 0o7777 {
			digits = strconv.FormatUint(v, 8)
		}
	}
	digits = strings.ReplaceAll(digits, "_", "")
	if !isOctalDigits(digits) || len(digits) > 4 {
		return ""
	}
	for len(digits) < 4 {
		digits = "0" + digits
	}
	return ` (write "` + digits + `")`
}

func isOctalDigits(s string) bool {
	if s == "" || len(s) > 4 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '7' {
			return false
		}
	}
	return true
}
