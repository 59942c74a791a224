package spec

import (
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// exampleSpecs lists every spec under examples/ and the root template.
func exampleSpecs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"../examples/*/image.*", "../examples/monorepo/services/*/image.*", "../image.*.example"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 14 {
		t.Fatalf("found only %d example specs: %v", len(out), out)
	}
	return out
}

// TestExamplesValidate loads every example (files and CUE package
// directories) with and without variables set.
func TestExamplesValidate(t *testing.T) {
	paths := exampleSpecs(t)
	dirs, _ := filepath.Glob("../examples/monorepo/services/*")
	paths = append(paths, dirs...)
	for _, p := range paths {
		for _, vars := range []map[string]string{nil, {"VERSION": "1.2.3"}} {
			s, err := Load(p, LoadOptions{Vars: vars})
			if err != nil {
				t.Errorf("Load(%s, %v):\n%v", p, vars, err)
				continue
			}
			if s.Source() == nil || s.Source().File != p || len(s.Source().Positions) == 0 {
				t.Errorf("Load(%s): source not recorded: %+v", p, s.Source())
			}
			if errs := Validate(s); len(errs) > 0 {
				t.Errorf("Validate(%s): %v", p, errs)
			}
		}
	}
}

// exampleTwins groups the example specs by where they live: every example
// (each directory under examples/ holding a spec, and the root template)
// must exist in both YAML and CUE form.
func exampleTwins(t *testing.T) map[string][2]string {
	t.Helper()
	twins := map[string][2]string{}
	add := func(key, p string) {
		tw := twins[key]
		switch ext := filepath.Ext(strings.TrimSuffix(p, ".example")); ext {
		case ".yaml", ".yml":
			if tw[0] != "" {
				t.Errorf("%s: two YAML specs, %s and %s", key, tw[0], p)
			}
			tw[0] = p
		case ".cue":
			if tw[1] != "" {
				t.Errorf("%s: two CUE specs, %s and %s", key, tw[1], p)
			}
			tw[1] = p
		}
		twins[key] = tw
	}
	err := filepath.WalkDir("../examples", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "cue.mod" || d.Name() == "templates") {
			return filepath.SkipDir // module files and shared templates, not specs
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), "image.") {
			add(filepath.Dir(p), p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Glob("../image.*.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range root {
		add("..", p)
	}
	return twins
}

// TestExamplesYAMLEqualsCUE checks that every example exists as YAML and as
// CUE and that both decode to the same model, with VERSION set and unset;
// CUE packages in a module are also loaded as a directory.
func TestExamplesYAMLEqualsCUE(t *testing.T) {
	twins := exampleTwins(t)
	for _, want := range []string{"..", "../examples/static-site", "../examples/go-binary", "../examples/multi-platform",
		"../examples/monorepo/services/api", "../examples/monorepo/services/web", "../examples/monorepo/services/worker"} {
		if _, ok := twins[want]; !ok {
			t.Errorf("no example spec found in %s", want)
		}
	}
	for dir, tw := range twins {
		if tw[0] == "" || tw[1] == "" {
			t.Errorf("%s: want the example in both YAML and CUE form; have %q", dir, tw)
			continue
		}
		others := []string{tw[1]}
		if strings.Contains(dir, "monorepo") {
			others = append(others, dir) // the CUE package directory
		}
		for _, env := range []map[string]string{nil, {"VERSION": "2.0.1"}} {
			opts := LoadOptions{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
			y, err := Load(tw[0], opts)
			if err != nil {
				t.Errorf("Load(%s): %v", tw[0], err)
				continue
			}
			y.source = nil
			for _, o := range others {
				c, err := Load(o, opts)
				if err != nil {
					t.Errorf("Load(%s): %v", o, err)
					continue
				}
				c.source = nil
				if !reflect.DeepEqual(y, c) {
					t.Errorf("%s and %s differ (env %v):\n yaml: %#v\n  cue: %#v", tw[0], o, env, y, c)
				}
			}
		}
	}
}

// TestLoadModel pins what Load decodes for one example: nil for absent
// lists, expanded variables, platform variables kept, positions recorded.
func TestLoadModel(t *testing.T) {
	s, err := Load("../examples/multi-platform/image.yaml", LoadOptions{Vars: map[string]string{"VERSION": "v3.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Tags; !reflect.DeepEqual(got, []string{"v3.1.0", "latest"}) {
		t.Errorf("tags = %q", got)
	}
	if got := s.Layers[0].Files[0].Src; got != "dist/${TARGETOS}_${TARGETARCH}/app" {
		t.Errorf("src = %q", got)
	}
	if s.Config.Cmd != nil || s.Layers[0].Delete != nil || s.Annotations != nil {
		t.Errorf("absent fields decoded as non-nil: cmd=%#v delete=%#v annotations=%#v", s.Config.Cmd, s.Layers[0].Delete, s.Annotations)
	}
	if s.Layers[0].Files[0].Optional {
		t.Error("the multi-platform example teaches optional: a binary missing for one platform must fail the build (issue 8, point 2)")
	}
	want := Position{File: "../examples/multi-platform/image.yaml", Line: 9, Col: 15}
	if got := s.Pos("layers[0].files[0].dest"); got != want {
		t.Errorf("Pos(dest) = %+v, want %+v", got, want)
	}
	abs, _ := filepath.Abs("../examples/multi-platform")
	if s.Source().Dir != abs {
		t.Errorf("Dir = %q, want %q", s.Source().Dir, abs)
	}
	d := WithDefaults(s, "")
	if d.Context != abs {
		t.Errorf("WithDefaults context = %q, want %q", d.Context, abs)
	}

	w, err := Load("../examples/monorepo/services/worker", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Config.Ports == nil || len(w.Config.Ports) != 0 {
		t.Errorf("worker ports = %#v, want an empty non-nil list (set to empty)", w.Config.Ports)
	}
	if got := w.Pos("config.cmd"); !strings.HasSuffix(got.File, filepath.Join("services", "worker", "image.cue")) || got.Line == 0 {
		t.Errorf("Pos(config.cmd) = %+v", got)
	}
}

// TestLoadConcurrent loads specs from several goroutines (the schema's
// cue.Context is shared and must be guarded); run with -race.
func TestLoadConcurrent(t *testing.T) {
	paths := []string{"../examples/static-site/image.yaml", "../examples/static-site/image.cue", "../examples/monorepo/services/web"}
	errc := make(chan error, 24)
	for i := 0; i < 24; i++ {
		go func() {
			_, err := Load(paths[i%len(paths)], LoadOptions{})
			errc <- err
		}()
	}
	for i := 0; i < 24; i++ {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
