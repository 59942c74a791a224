package schema_test

import (
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"github.com/strata-build/strata/schema"
)

// TestSchemaCompiles checks that the embedded schema compiles, defines
// #Image, and that every field carries a @hint for error messages.
func TestSchemaCompiles(t *testing.T) {
	ctx := cuecontext.New()
	v := ctx.CompileString(schema.Source, cue.Filename(schema.Filename))
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	def := v.LookupPath(cue.ParsePath(schema.Definition))
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	var walk func(v cue.Value, path string)
	walk = func(v cue.Value, path string) {
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			return
		}
		for it.Next() {
			p := path + "." + it.Selector().Unquoted()
			a := it.Value().Attribute("hint")
			if h, err := a.String(0); err != nil || h == "" {
				t.Errorf("%s has no @hint", p)
			}
			fv := it.Value()
			if e := fv.LookupPath(cue.MakePath(cue.AnyIndex)); e.Exists() {
				fv = e
			}
			walk(fv, p)
		}
	}
	walk(def, "#Image")
	// A minimal spec unifies; a bare-number mode does not.
	ok := ctx.CompileString(`base: "scratch", layers: [{files: [{src: "a", dest: "/a", mode: "0644"}]}]`)
	if err := def.Unify(ok).Validate(cue.Concrete(true)); err != nil {
		t.Errorf("minimal spec: %v", err)
	}
	bad := ctx.CompileString(`base: "scratch", layers: [{files: [{src: "a", dest: "/a", mode: 493}]}]`)
	if err := def.Unify(bad).Validate(cue.Concrete(true)); err == nil {
		t.Error("a numeric mode unifies with #Image")
	}
}
