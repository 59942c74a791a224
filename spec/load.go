package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
)

// MaxSpecSize is the largest spec input accepted, in bytes (for a CUE
// package directory: all its .cue files together).
const MaxSpecSize = 1 << 20

// LoadOptions are the inputs of Load besides the spec itself. The library
// reads no environment: the CLI passes LookupEnv and the --set values.
type LoadOptions struct {
	// Vars are variables for ${VAR} references; they win over LookupEnv.
	Vars map[string]string
	// LookupEnv looks a variable up in the environment; nil means none.
	LookupEnv func(string) (string, bool)
	// SemverOptional is for commands that do not push (a local build or
	// plan): semver tags only matter to a push, so a semver field naming
	// an undefined variable is dropped, as if it were not written, and
	// reported to Warn instead of failing the load.
	SemverOptional bool
	// Warn, when set, receives the problems that do not fail the load.
	Warn func(*Error)
	// CUEMemory bounds how much the heap may grow while a CUE spec is
	// evaluated, in bytes; 0 means DefaultCUEMemory. It is the process's
	// heap that is watched, so what runs at the same time counts too.
	CUEMemory int64
	// CUETimeout bounds how long a CUE spec may take to evaluate; 0 means
	// DefaultCUETimeout.
	CUETimeout time.Duration
}

// Load reads the spec at path, expands ${VAR} references, checks it against
// the schema, runs Validate and returns the spec.
//
// path is a .yaml or .yml file, a .cue file, or a directory holding one CUE
// package; a trailing ".example" is ignored (image.yaml.example is YAML). A
// CUE file or package inside a CUE module (cue.mod/ in a parent directory)
// may import the module's own packages; nothing is fetched from a registry.
//
// A bad or missing spec gives an ErrorList with every problem found, each
// positioned in the user's files; other I/O failures are wrapped errors.
func Load(path string, opts LoadOptions) (*Spec, error) {
	return LoadContext(context.Background(), path, opts)
}

// LoadContext is Load with a context: the evaluation of a CUE spec stops
// when ctx ends (a signal), and when it outgrows its budget of memory or
// time (LoadOptions.CUEMemory and CUETimeout), with a *BudgetError.
func LoadContext(ctx context.Context, path string, opts LoadOptions) (*Spec, error) {
	fi, err := os.Stat(path)
	if err != nil {
		// A missing spec is the user's mistake, like a bad one (exit 2).
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, ErrorList{{Pos: Position{File: path}, Msg: "cannot read spec: " + msg}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading spec %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	if fi.IsDir() {
		dir = abs
	}
	display := displayFunc(path, abs, fi.IsDir())

	var data []byte
	format := ""
	// "image.yaml.example" is read as YAML: templates keep their format.
	switch ext := strings.ToLower(filepath.Ext(strings.TrimSuffix(path, ".example"))); {
	case fi.IsDir():
		format = "cue"
		if err := checkDirSize(path); err != nil {
			return nil, ErrorList{{Pos: Position{File: path, Line: 1, Col: 1}, Msg: err.Error()}}
		}
	case ext == ".yaml" || ext == ".yml":
		format = "yaml"
	case ext == ".cue":
		format = "cue"
	default:
		return nil, ErrorList{{Pos: Position{File: path, Line: 1, Col: 1}, Msg: fmt.Sprintf("unknown spec format %q; want a .yaml, .yml or .cue file, or a CUE package directory", ext)}}
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, ErrorList{{Pos: Position{File: path, Line: 1, Col: 1}, Msg: "not a regular file; want a spec file or a CUE package directory"}}
		}
		data, err = readCapped(path)
		if err != nil {
			var el ErrorList
			if errors.As(err, &el) {
				return nil, el
			}
			return nil, fmt.Errorf("reading spec %s: %w", path, err)
		}
	}

	var (
		tree *node
		errs ErrorList
	)
	if format == "yaml" {
		tree, errs = parseYAML(path, data)
	}
	if format == "cue" {
		// CUE evaluation cannot be interrupted, so it runs in its own
		// goroutine and cue.Context, holding no lock, under a budget.
		type result struct {
			tree *node
			errs ErrorList
		}
		r, err := runBudgeted(ctx, path, opts.CUEMemory, opts.CUETimeout, func() result {
			t, e := loadCUE(cuecontext.New(), path, fi.IsDir(), data, display)
			return result{t, e}
		})
		if err != nil {
			return nil, err
		}
		tree, errs = r.tree, r.errs
	}
	c := compiledSchema()
	c.acquire()
	defer c.release()
	if tree == nil {
		placeErrors(errs, &node{kind: kindMap}, path)
		errs.Sort()
		return nil, errs
	}
	x := &expander{opts: opts}
	x.tree(tree)
	s, cerrs := c.check(tree, format == "cue")
	errs = append(errs, x.errs...)
	errs = append(errs, cerrs...)
	if s != nil {
		positions := map[string]Position{}
		tree.record("", positions)
		s.source = &Source{File: path, Dir: dir, Positions: positions}
		// Validate what the schema accepted; problems under a field the
		// schema (or a variable) already rejected are not repeated.
		for _, e := range Validate(s) {
			if !under(e.Path, errs) {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		placeErrors(errs, tree, path)
		errs.Sort()
		return nil, errs
	}
	return s, nil
}

// placeErrors gives every problem a position: its field's, the nearest
// enclosing field's, or else the start of the spec file.
func placeErrors(errs ErrorList, tree *node, file string) {
	var positions map[string]Position
	for _, e := range errs {
		if e.Pos.Line > 0 {
			continue
		}
		if positions == nil {
			positions = map[string]Position{}
			tree.record("", positions)
		}
		probe := &Spec{source: &Source{File: file, Positions: positions}}
		e.Pos = probe.Pos(e.Path)
		if e.Pos.Line == 0 {
			e.Pos = Position{File: file, Line: 1, Col: 1}
		}
	}
}

// displayFunc maps file names in CUE positions to the names users see:
// the spec path as given, and other files relative to it.
func displayFunc(given, abs string, isDir bool) func(string) string {
	base := filepath.Dir(abs)
	givenBase := filepath.Dir(given)
	if isDir {
		base, givenBase = abs, given
	}
	return func(name string) string {
		if name == "" {
			return given
		}
		if name == abs {
			return given
		}
		if rel, err := filepath.Rel(base, name); err == nil && filepath.IsAbs(name) {
			return filepath.Join(givenBase, rel)
		}
		return name
	}
}

// readCapped reads a spec file of at most MaxSpecSize bytes.
func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSpecSize {
		return nil, ErrorList{{Pos: Position{File: path, Line: 1, Col: 1}, Msg: fmt.Sprintf("spec is larger than %d bytes; keep specs small", MaxSpecSize)}}
	}
	return data, nil
}

// checkDirSize caps the total size of the .cue files of a package directory.
func checkDirSize(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var total int64
	found := false
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".cue" {
			continue
		}
		found = true
		info, err := e.Info()
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeType != 0 {
			continue
		}
		total += info.Size()
	}
	if !found {
		return fmt.Errorf("no .cue files in directory; want a CUE package directory or a .yaml, .yml or .cue file")
	}
	if total > MaxSpecSize {
		return fmt.Errorf("CUE package is larger than %d bytes; keep specs small", MaxSpecSize)
	}
	return nil
}

// check unifies the tree with the schema and decodes it. It reports
// unknown and missing fields itself (with suggestions) and maps every other
// CUE error to the field's position in the user's file. The caller holds
// the schema (acquire). fromCUE words messages for a .cue spec (no YAML
// advice).
func (c *compiled) check(tree *node, fromCUE bool) (*Spec, ErrorList) {
	// Extension fields (x-…) are the user's, not part of the spec.
	kept := tree.fields[:0]
	for _, f := range tree.fields {
		if !strings.HasPrefix(f.key, "x-") {
			kept = append(kept, f)
		}
	}
	tree.fields = kept
	var errs ErrorList
	c.structure(tree, c.def, "", &errs)
	for _, e := range errs {
		if n, _, found := tree.atPath(e.Path); found && n != tree {
			*n = node{kind: kindNull, pos: n.pos, keyPos: n.keyPos}
		}
	}
	u := c.def.Unify(c.ctx.BuildExpr(tree.expr()))
	if err := u.Validate(cue.Concrete(true), cue.All()); err != nil {
		reported := map[string]bool{}
		for _, e := range errs {
			reported[e.Path] = true
		}
		for _, e := range cueerrors.Errors(err) {
			segs := e.Path()
			if len(segs) > 0 && segs[0] == schemaDefinition {
				segs = segs[1:]
			}
			n, path, found := tree.at(segs)
			if reported[path] {
				continue
			}
			reported[path] = true
			format, args := e.Msg()
			msg := describeCUE(fmt.Sprintf(format, args...), n, found)
			if h := c.hintAt(tree, segs); h != "" {
				msg += "; " + h
			}
			if fromCUE {
				msg = cueWording(msg, path, n, found)
			}
			pos := n.pos
			errs = append(errs, &Error{Pos: pos, Path: path, Msg: msg})
		}
	}
	// Null out the values the schema rejected so that the rest can still
	// be decoded and validated: every problem is reported at once.
	for _, e := range errs {
		if n, _, found := tree.atPath(e.Path); found && n != tree {
			*n = node{kind: kindNull, pos: n.pos, keyPos: n.keyPos}
		}
	}
	s, err := tree.decode()
	if err != nil {
		return nil, append(errs, &Error{Pos: tree.pos, Msg: "decoding spec: " + err.Error()})
	}
	return s, errs
}

// describeCUE words what is wrong with a value, from CUE's message and the
// value as written.
func describeCUE(msg string, n *node, found bool) string {
	switch {
	case !found && (strings.Contains(msg, "incomplete") || strings.Contains(msg, "required")):
		return "missing value"
	case strings.Contains(msg, "mismatched types") || strings.HasPrefix(msg, "conflicting values"):
		if n.kind == kindNull {
			return "got no value (null)"
		}
		if n.kind == kindMap || n.kind == kindList {
			return "got " + n.kind.describe()
		}
		return "got " + n.show() + " (" + n.kind.describe() + ")"
	case strings.HasPrefix(msg, "invalid value"):
		return "invalid value " + n.show()
	case msg == "field not allowed":
		return "unknown field"
	}
	return msg
}

// decode turns a schema-checked tree into a Spec. It goes through JSON
// rather than cue.Value.Decode so that absent lists stay nil and present
// empty ones stay empty, identically for YAML and CUE.
func (n *node) decode() (*Spec, error) {
	data, err := json.Marshal(n.plain())
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// plain converts the tree to JSON-ready Go values.
func (n *node) plain() any {
	switch n.kind {
	case kindBool:
		return n.b
	case kindInt, kindFloat:
		return json.Number(n.num)
	case kindString:
		return n.str
	case kindList:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = it.plain()
		}
		return out
	case kindMap:
		out := make(map[string]any, len(n.fields))
		for _, f := range n.fields {
			out[f.key] = f.val.plain()
		}
		return out
	}
	return nil
}

// under reports whether path is, or is inside, the field of one of errs.
func under(path string, errs ErrorList) bool {
	for _, e := range errs {
		if e.Path == "" {
			continue
		}
		if path == e.Path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[") {
			return true
		}
	}
	return false
}
