package spec

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	"github.com/strata-build/strata/schema"
)

const (
	schemaFilename   = schema.Filename
	schemaDefinition = schema.Definition
)

// compiled is the schema, parsed once per process and built into a
// cue.Context that is replaced every recycleAfter uses: a cue.Context keeps
// what it evaluated, and a long-lived one grew by about 50 KiB per CUE spec
// loaded (measured), so a monorepo run would otherwise grow without bound.
// A cue.Value is not safe for concurrent use: every use of ctx and def
// happens between acquire and release.
type compiled struct {
	mu   sync.Mutex
	file *ast.File
	ctx  *cue.Context
	def  cue.Value
	uses int
}

// recycleAfter is how many loads share one cue.Context.
const recycleAfter = 64

// compiledSchema parses the embedded schema on first use.
var compiledSchema = sync.OnceValue(func() *compiled {
	f, err := parser.ParseFile(schema.Filename, schema.Source, parser.ParseComments)
	if err != nil {
		panic("strata: embedded schema does not parse: " + err.Error())
	}
	c := &compiled{file: f}
	c.build()
	return c
})

// build evaluates the parsed schema in a fresh context.
func (c *compiled) build() {
	ctx := cuecontext.New()
	v := ctx.BuildFile(c.file)
	if err := v.Err(); err != nil {
		panic("strata: embedded schema does not compile: " + err.Error())
	}
	def := v.LookupPath(cue.ParsePath(schema.Definition))
	if err := def.Err(); err != nil {
		panic("strata: embedded schema lacks " + schema.Definition + ": " + err.Error())
	}
	c.ctx, c.def, c.uses = ctx, def, 0
}

// acquire locks the schema for one load, recycling the context when due.
func (c *compiled) acquire() {
	c.mu.Lock()
	if c.uses >= recycleAfter {
		c.build()
	}
	c.uses++
}

// release unlocks the schema.
func (c *compiled) release() { c.mu.Unlock() }

// child returns the schema of a field or element of sv: list elements for
// digits, declared fields by name, pattern constraints for other keys.
func child(sv cue.Value, seg string, isIndex bool) (cue.Value, bool) {
	if isIndex {
		e := sv.LookupPath(cue.MakePath(cue.AnyIndex))
		return e, e.Exists()
	}
	it, err := sv.Fields(cue.Optional(true))
	if err == nil {
		for it.Next() {
			if it.Selector().Unquoted() == seg {
				return it.Value(), true
			}
		}
	}
	if !sv.Allows(cue.Str(seg)) {
		return cue.Value{}, false
	}
	// A pattern-constrained mapping (env, labels): the value schema, when
	// CUE can give it; else an unknown value (no further checks here, CUE
	// still checks the whole tree).
	return sv.LookupPath(cue.MakePath(cue.AnyString)), true
}

// hint returns the @hint text of v, if any: @hint("…") for the field
// itself, or with elem, @hint(…, elem="…") for the field's list elements.
func hint(v cue.Value, elem bool) string {
	if !v.Exists() {
		return ""
	}
	a := v.Attribute("hint")
	if a.Err() != nil {
		return ""
	}
	if elem {
		h, found, err := a.Lookup(1, "elem")
		if err != nil || !found {
			return ""
		}
		return h
	}
	h, err := a.String(0)
	if err != nil {
		return ""
	}
	return h
}

// declaredFields lists the field names sv declares, and which are required.
func declaredFields(sv cue.Value) (names []string, required []string) {
	it, err := sv.Fields(cue.Optional(true))
	if err != nil {
		return nil, nil
	}
	for it.Next() {
		sel := it.Selector()
		names = append(names, sel.Unquoted())
		if sel.ConstraintType() == cue.RequiredConstraint {
			required = append(required, sel.Unquoted())
		}
	}
	return names, required
}

// structure checks the tree's shape against the schema: unknown fields (with
// a suggestion) and missing required fields. Unknown fields are removed from
// the tree so that CUE does not report them again.
func (c *compiled) structure(n *node, sv cue.Value, path string, errs *ErrorList) {
	switch n.kind {
	case kindList:
		if !sv.Exists() || sv.IncompleteKind()&cue.ListKind == 0 {
			return // a type error; CUE reports it
		}
		ev, ok := child(sv, "", true)
		if !ok {
			return
		}
		for i, it := range n.items {
			c.structure(it, ev, joinIndex(path, i), errs)
		}
	case kindMap:
		if !sv.Exists() || sv.IncompleteKind()&cue.StructKind == 0 {
			return
		}
		names, required := declaredFields(sv)
		kept := n.fields[:0]
		for _, f := range n.fields {
			fp := joinKey(path, f.key)
			cv, ok := child(sv, f.key, false)
			if !ok {
				pos := f.val.keyPos
				if pos.Line == 0 {
					pos = f.val.pos
				}
				*errs = append(*errs, &Error{Pos: pos, Path: fp, Msg: unknownField(f.key, names, hint(sv, false))})
				continue
			}
			kept = append(kept, f)
			c.structure(f.val, cv, fp, errs)
		}
		n.fields = kept
		for _, r := range required {
			if n.lookup(r) == nil {
				cv, _ := child(sv, r, false)
				msg := "missing required field"
				if h := hint(cv, false); h != "" {
					msg += "; " + h
				}
				*errs = append(*errs, &Error{Pos: n.pos, Path: joinKey(path, r), Msg: msg})
			}
		}
	}
}

// unknownField words the message for a field the schema does not declare.
func unknownField(key string, names []string, h string) string {
	if len(names) == 0 {
		// A mapping whose keys follow a pattern (env).
		msg := fmt.Sprintf("invalid key %q", key)
		if h != "" {
			msg += "; " + h
		}
		return msg
	}
	if s := suggest(key, names); s != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", key, s)
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	msg := fmt.Sprintf("unknown field %q; valid fields: %s", key, strings.Join(sorted, ", "))
	if slices.Contains(names, "base") { // the top level
		msg += ", or x-… for your own use (YAML anchors)"
	}
	return msg
}

// suggest returns the name closest to key by edit distance, if it is close.
func suggest(key string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return n
		}
		d := EditDistance(strings.ToLower(key), strings.ToLower(n))
		if d < bestD {
			best, bestD = n, d
		}
	}
	limit := 2
	if len(key) <= 3 {
		limit = 1
	}
	if bestD <= limit || (bestD <= 3 && len(key) >= 8) {
		return best
	}
	return ""
}

// EditDistance is the Levenshtein distance between a and b, in bytes, for
// "did you mean" suggestions in spec errors. Strings longer than 64 bytes
// are never close: it returns a large number for them.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// declares reports whether sv declares a field named key (rather than
// allowing it through a pattern).
func declares(sv cue.Value, key string) bool {
	names, _ := declaredFields(sv)
	for _, n := range names {
		if n == key {
			return true
		}
	}
	return false
}

// hintAt returns the hint for the field at CUE path segs, from the nearest
// enclosing schema field that has one.
func (c *compiled) hintAt(tree *node, segs []string) string {
	sv, n := c.def, tree
	h := ""
	for _, s := range segs {
		isIndex := n != nil && n.kind == kindList
		next, ok := child(sv, s, isIndex)
		if !ok || !next.Exists() {
			break
		}
		if isIndex || !declares(sv, s) {
			if x := hint(sv, true); x != "" {
				h = x
			}
		}
		sv = next
		if x := hint(sv, false); x != "" {
			h = x
		}
		if n != nil {
			nn, _, found := n.at([]string{s})
			if found {
				n = nn
			} else {
				n = nil
			}
		}
	}
	return h
}
