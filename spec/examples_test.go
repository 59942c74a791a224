package spec

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// exampleSpecs lists every spec under examples/ and the root template.
func exampleSpecs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"../examples/*/image.*", "../examples/monorepo/services/*/image.*", "../image.yaml.example"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 11 {
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

// TestExamplesYAMLEqualsCUE checks that each YAML example and its CUE twin
// decode to the same model.
func TestExamplesYAMLEqualsCUE(t *testing.T) {
	pairs := [][2]string{
		{"../examples/static-site/image.yaml", "../examples/static-site/image.cue"},
		{"../examples/go-binary/image.yaml", "../examples/go-binary/image.cue"},
		{"../examples/multi-platform/image.yaml", "../examples/multi-platform/image.cue"},
		{"../examples/monorepo/services/api/image.yaml", "../examples/monorepo/services/api"},
		{"../examples/monorepo/services/api/image.yaml", "../examples/monorepo/services/api/image.cue"},
	}
	for _, p := range pairs {
		opts := LoadOptions{LookupEnv: func(k string) (string, bool) {
			if k == "VERSION" {
				return "2.0.1", true
			}
			return "", false
		}}
		y, err := Load(p[0], opts)
		if err != nil {
			t.Fatalf("Load(%s): %v", p[0], err)
		}
		c, err := Load(p[1], opts)
		if err != nil {
			t.Fatalf("Load(%s): %v", p[1], err)
		}
		y.source, c.source = nil, nil
		if !reflect.DeepEqual(y, c) {
			t.Errorf("%s and %s differ:\n yaml: %#v\n  cue: %#v", p[0], p[1], y, c)
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
	if !s.Layers[0].Files[0].Optional {
		t.Error("optional not decoded")
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
