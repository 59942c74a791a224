package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/mod/modconfig"
)

// offlineRegistry refuses to fetch CUE module dependencies: strata never
// touches the network while loading a spec.
var offlineRegistry = &modconfig.LazyRegistry{New: func() (modconfig.CachedRegistry, error) {
	return nil, errors.New("strata loads CUE specs offline and cannot fetch module dependencies; keep shared definitions inside your CUE module")
}}

// loadCUE loads a .cue file or a CUE package directory and turns its
// concrete value into a node tree, evaluating it in cctx (which no one else
// uses meanwhile: a cue.Context is not safe for concurrent use).
func loadCUE(cctx *cue.Context, target string, isDir bool, data []byte, display func(string) string) (*node, ErrorList) {
	abs, err := filepath.Abs(target)
	if err != nil {
		return nil, ErrorList{{Pos: Position{File: target, Line: 1, Col: 1}, Msg: err.Error()}}
	}
	// Everything CUE reads (package files, cue.mod, @embed files) goes
	// through cueFS: confined to the module root, regular files only.
	dir := abs
	if !isDir {
		dir = filepath.Dir(abs)
	}
	rootDir := moduleRoot(dir)
	// CUE's loader ignores a module file it cannot open; one that is not a
	// regular file (a FIFO would hang a reader) is an error here.
	if fi, err := os.Stat(filepath.Join(rootDir, "cue.mod", "module.cue")); err == nil && !fi.Mode().IsRegular() {
		return nil, ErrorList{{Pos: Position{File: display(filepath.Join(rootDir, "cue.mod", "module.cue")), Line: 1, Col: 1}, Msg: "not a regular file; want the CUE module file"}}
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, ErrorList{{Pos: Position{File: target, Line: 1, Col: 1}, Msg: err.Error()}}
	}
	defer root.Close()
	fsys := &cueFS{root: root, fsys: root.FS(), overlay: map[string][]byte{}}
	toFS := func(p string) string {
		rel, err := filepath.Rel(rootDir, p)
		if err != nil || rel == "." {
			return "/"
		}
		return "/" + filepath.ToSlash(rel)
	}
	cfg := &load.Config{
		Env:      []string{},
		Registry: offlineRegistry,
		FS:       fsys,
		Dir:      toFS(dir),
		FromFSPath: func(p string) string {
			return filepath.Join(rootDir, filepath.FromSlash(strings.TrimPrefix(p, "/")))
		},
	}
	args := []string{"."}
	if !isDir {
		// Load the file together with the rest of its package only when it
		// lives in a CUE module; a lone file is loaded on its own. The
		// bytes already read (and size-checked) are used via an overlay.
		name := strings.TrimSuffix(abs, ".example") // image.cue.example loads as image.cue
		args = []string{toFS(name)}
		fsys.overlay[strings.TrimPrefix(toFS(name), "/")] = data
		if name != abs {
			inner := display
			display = func(f string) string {
				if f == name {
					return target
				}
				return inner(f)
			}
		}
	}
	if isDir {
		if errs := missingPackageClauses(abs, display); len(errs) > 0 {
			return nil, errs
		}
	}
	insts := load.Instances(args, cfg)
	if len(insts) != 1 {
		return nil, ErrorList{{Pos: Position{File: target, Line: 1, Col: 1}, Msg: "want exactly one CUE package"}}
	}
	inst := insts[0]
	m := &cueErrorMap{display: display, target: target}
	if inst.Err != nil {
		return nil, m.errors(inst.Err, "", cue.Value{})
	}
	m.indexLiterals(inst)
	v := cctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		// v.Err holds the first error only; Validate lists every one, so
		// a spec with two bad fields reports both.
		if all := v.Validate(cue.All()); all != nil {
			err = all
		}
		return nil, m.errors(err, "", v)
	}
	if err := v.Validate(cue.Concrete(true), cue.All()); err != nil {
		return nil, m.errors(err, "value is not concrete", v)
	}
	own := map[string]bool{}
	for _, f := range inst.Files {
		own[f.Filename] = true
	}
	w := &cueWalker{display: display, own: own}
	n := w.walk(v, "", 0)
	if len(w.errs) > 0 {
		return nil, w.errs
	}
	if n.kind != kindMap {
		return nil, ErrorList{{Pos: n.pos, Msg: fmt.Sprintf("the spec is %s; want a struct with at least base", n.kind.describe())}}
	}
	return n, nil
}

// cueWalker turns a concrete cue.Value into a node tree.
type cueWalker struct {
	display func(string) string
	own     map[string]bool // files of the loaded package, preferred for positions
	nodes   int
	errs    ErrorList
}

func (w *cueWalker) pos(p token.Pos) Position {
	if !p.IsValid() {
		return Position{}
	}
	pp := p.Position()
	return Position{File: w.display(pp.Filename), Line: pp.Line, Col: pp.Column}
}

// bestPos picks the position of a value's conjunct in the loaded package's
// own files (where the user set it) over one in an imported template.
func (w *cueWalker) bestPos(v cue.Value) token.Pos {
	p := v.Pos()
	if f, ok := v.Source().(*ast.Field); ok && f.Value != nil && f.Value.Pos().IsValid() {
		p = f.Value.Pos() // the value, not its label, as for YAML
	}
	if w.own[p.Filename()] {
		return p
	}
	if op, args := v.Expr(); op == cue.AndOp {
		for _, a := range args {
			if ap := a.Pos(); ap.IsValid() && w.own[ap.Filename()] {
				return ap
			}
		}
	}
	return p
}

func (w *cueWalker) walk(v cue.Value, path string, depth int) *node {
	w.nodes++
	if d, ok := v.Default(); ok {
		v = d
	}
	n := &node{pos: w.pos(w.bestPos(v))}
	if w.nodes > maxNodes || depth > maxDepth {
		if w.nodes == maxNodes+1 || depth == maxDepth+1 {
			w.errs = append(w.errs, &Error{Pos: n.pos, Path: path, Msg: fmt.Sprintf("spec too large or too deeply nested (more than %d values or %d levels)", maxNodes, maxDepth)})
		}
		return n
	}
	switch v.Kind() {
	case cue.NullKind:
		n.kind = kindNull
	case cue.BoolKind:
		n.kind = kindBool
		n.b, _ = v.Bool()
	case cue.IntKind:
		n.kind = kindInt
		i, err := v.Int(nil)
		n.num = "0"
		if err == nil {
			n.num = i.String()
		}
		n.raw = n.num
		if lit := literal(v); lit != "" {
			n.raw = lit // as written: 0o755, not 493
		}
	case cue.FloatKind, cue.NumberKind:
		n.kind, n.num = kindFloat, "0.0"
		if f, err := v.Float64(); err == nil {
			n.raw = strconv.FormatFloat(f, 'g', -1, 64)
		}
	case cue.StringKind:
		n.kind = kindString
		n.str, _ = v.String()
	case cue.BytesKind:
		w.errs = append(w.errs, &Error{Pos: n.pos, Path: path, Msg: "bytes value; want a string"})
	case cue.ListKind:
		n.kind = kindList
		it, err := v.List()
		if err != nil {
			w.errs = append(w.errs, &Error{Pos: n.pos, Path: path, Msg: err.Error()})
			return n
		}
		for i := 0; it.Next(); i++ {
			n.items = append(n.items, w.walk(it.Value(), joinIndex(path, i), depth+1))
		}
	case cue.StructKind:
		n.kind = kindMap
		it, err := v.Fields()
		if err != nil {
			w.errs = append(w.errs, &Error{Pos: n.pos, Path: path, Msg: err.Error()})
			return n
		}
		for it.Next() {
			key := it.Selector().Unquoted()
			cv := it.Value()
			child := w.walk(cv, joinKey(path, key), depth+1)
			child.keyPos = child.pos
			if f, ok := cv.Source().(*ast.Field); ok && f.Label != nil {
				// The label, as for YAML, when it is written where the value is.
				if lp := w.pos(f.Label.Pos()); lp.File == child.pos.File && lp.Line > 0 {
					child.keyPos = lp
				}
			}
			n.fields = append(n.fields, field{key: key, val: child})
		}
	default:
		w.errs = append(w.errs, &Error{Pos: n.pos, Path: path, Msg: "value is not concrete; give it a concrete value"})
	}
	return n
}

// missingPackageClauses reports each .cue file of dir without a package
// clause: a directory is loaded as one CUE package, and CUE would only say
// that "build constraints exclude all CUE files".
func missingPackageClauses(dir string, display func(string) string) ErrorList {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil // load.Instances reports it
	}
	var errs ErrorList
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".cue") || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := parser.ParseFile(p, nil, parser.PackageClauseOnly)
		if err != nil || f.PackageName() != "" {
			continue // a syntax error is reported by the load
		}
		errs = append(errs, &Error{Pos: Position{File: display(p), Line: 1, Col: 1},
			Msg: "no package clause; a directory is loaded as one CUE package: add a first line such as \"package image\" to each of its .cue files, or name the file instead of the directory"})
	}
	return errs
}
