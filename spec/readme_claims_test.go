package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// writeSpec writes a spec file into a fresh directory and returns its path.
func writeSpec(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestREADMEExtensionFields loads the README's x-… example: the anchor in
// the extension field is merged into the file entry, and the extension
// field itself is not part of the spec. The CUE form (a quoted "x-…" field)
// is ignored the same way.
func TestREADMEExtensionFields(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "### Extension fields")
	if !ok {
		t.Fatal(`README.md has no "### Extension fields" section`)
	}
	_, block, ok := strings.Cut(after, "```yaml\n")
	if !ok {
		t.Fatal("no yaml block in the extension fields section")
	}
	block, _, _ = strings.Cut(block, "```")
	want := []File{{Src: "public/**", Dest: "/srv/www/", Mode: "0644", Owner: "101:101"}}
	for name, body := range map[string]string{
		"image.yaml": "base: scratch\n" + block,
		"image.cue": `package x
"x-defaults": {mode: "0644", owner: "101:101"}
_defaults: {mode: "0644", owner: "101:101"}
base: "scratch"
layers: [{files: [_defaults & {src: "public/**", dest: "/srv/www/"}]}]
`,
	} {
		s, err := Load(writeSpec(t, name, body), LoadOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(s.Layers) != 1 || !reflect.DeepEqual(s.Layers[0].Files, want) {
			t.Errorf("%s: layers = %#v; want one layer with files %#v", name, s.Layers, want)
		}
	}
}

// TestREADMEVariableFields checks "expanded in tags, semver, image,
// config.labels and config.env values, annotations values and src —
// nowhere else": W is expanded in each listed field, and an undefined V
// elsewhere is kept as written (expanding it would be an error). Keys are
// never expanded.
func TestREADMEVariableFields(t *testing.T) {
	p := writeSpec(t, "image.yaml", `base: scratch
image: registry.example/${W}
tags: ["${W}", "registry.example/other:${W}"]
semver: "1.2.${PATCH}"
layers:
  - name: "${V}"
    delete: ["/old/${V}"]
    files:
      - {src: "${W}/**", dest: "/srv/${V}/"}
    symlinks: [{path: /link, target: "${V}"}]
config:
  entrypoint: ["${V}"]
  cmd: ["${V}"]
  workdir: /w/${V}
  env: {K: "${W}"}
  labels: {"l${V}": "${W}"}
  volumes: ["/data/${V}"]
annotations: {"a${V}": "${W}"}
`)
	s, err := Load(p, LoadOptions{Vars: map[string]string{"W": "x", "PATCH": "4"}})
	if err != nil {
		t.Fatal(err)
	}
	l := s.Layers[0]
	got := map[string]string{
		"image": s.Image, "tags[0]": s.Tags[0], "tags[1]": s.Tags[1], "semver": s.Semver,
		"src": l.Files[0].Src, "env": s.Config.Env["K"], "labels": s.Config.Labels["l${V}"], "annotations": s.Annotations["a${V}"],
		"name": l.Name, "delete": l.Delete[0], "dest": l.Files[0].Dest, "symlink": l.Symlinks[0].Target,
		"entrypoint": s.Config.Entrypoint[0], "cmd": s.Config.Cmd[0], "workdir": s.Config.Workdir, "volumes": s.Config.Volumes[0],
	}
	want := map[string]string{
		"image": "registry.example/x", "tags[0]": "x", "tags[1]": "registry.example/other:x", "semver": "1.2.4",
		"src": "x/**", "env": "x", "labels": "x", "annotations": "x",
		"name": "${V}", "delete": "/old/${V}", "dest": "/srv/${V}/", "symlink": "${V}",
		"entrypoint": "${V}", "cmd": "${V}", "workdir": "/w/${V}", "volumes": "/data/${V}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expanded fields:\n got %v\nwant %v", got, want)
	}
}

// TestREADMECUEHiddenAndDefinitions: hidden fields and definitions are the
// user's and are not part of the spec (no unknown-field error).
func TestREADMECUEHiddenAndDefinitions(t *testing.T) {
	p := writeSpec(t, "image.cue", `package x
_repo: "registry.example/team"
#name: string & =~"^[a-z]+$"
#name: "web"
base:  "scratch"
image: "\(_repo)/\(#name)"
`)
	s, err := Load(p, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.source = nil
	if want := (&Spec{Base: "scratch", Image: "registry.example/team/web"}); !reflect.DeepEqual(s, want) {
		t.Errorf("Load = %#v; want %#v", s, want)
	}
}

// TestREADMEAllowedCombinations pins rules the README states as allowed:
// deleting a path the same layer adds (replacing a base file), bare tags
// without image (validate accepts them; push needs image), a context that
// climbs out of the spec's directory, and an x-… key at the top level.
func TestREADMEAllowedCombinations(t *testing.T) {
	for name, body := range map[string]string{
		"delete then add":  "base: scratch\nlayers:\n  - delete: [/etc/nginx/conf.d/default.conf]\n    files: [{src: conf/site.conf, dest: /etc/nginx/conf.d/default.conf}]\n",
		"bare tags":        "base: scratch\ntags: [latest, v1.2.3]\n",
		"climbing context": "base: scratch\ncontext: ../../..\n",
		"x- key":           "base: scratch\nx-anything: {a: [1, 2]}\n",
		"yml.example":      "base: scratch\n",
	} {
		file := "image.yaml"
		if name == "yml.example" {
			file = "image.yml.example"
		}
		if _, err := Load(writeSpec(t, file, body), LoadOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestREADMEErrorLines checks that every example error line in the README's
// "Errors" section is exactly what strata prints: each must appear in the
// want file of a testdata/invalid golden.
func TestREADMEErrorLines(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "### Errors")
	if !ok {
		t.Fatal(`README.md has no "### Errors" section`)
	}
	section, _, _ = strings.Cut(section, "\n### ")
	goldens, err := filepath.Glob("testdata/invalid/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	var wants strings.Builder
	for _, g := range goldens {
		ar, err := txtar.ParseFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ar.Files {
			if f.Name == "want" {
				wants.Write(f.Data)
			}
		}
	}
	all := "\n" + wants.String()
	n := 0
	for _, line := range strings.Split(section, "\n") {
		if !errLineRE.MatchString(line) {
			continue
		}
		n++
		if !strings.Contains(all, "\n"+line+"\n") {
			t.Errorf("README error line is not produced by any golden spec:\n%s", line)
		}
	}
	if n < 4 {
		t.Errorf("found %d example error lines in the README's Errors section; want at least 4", n)
	}
}

// errLineRE matches an error line: FILE:LINE:COL: …
var errLineRE = regexp.MustCompile(`^[\w./-]+\.(yaml|cue):\d+:\d+: `)
