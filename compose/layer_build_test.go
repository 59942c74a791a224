package compose

import (
	"testing"

	"github.com/strata-build/strata/spec"
)

func TestBuildLayerBasic(t *testing.T) {
	env := newEnv(t, []tfile{
		{path: "public/index.html", content: "<h1>hi</h1>"},
		{path: "public/css/site.css", content: "body{}"},
		{path: "public/app.js.map", content: "map"},
		{path: "bin/app", content: "ELF", mode: 0o700},
	})
	bl := env.build(t, spec.Layer{Files: []spec.File{
		{Src: "public/**", Dest: "/usr/share/nginx/html/", Exclude: []string{"**/*.map"}},
		{Src: "bin/app", Dest: "/usr/local/bin/"},
	}})
	diffLines(t, summary(readLayer(t, bl)), []string{
		"usr/local/bin/app file 0755 0:0 =ELF",
		"usr/share/nginx/html/css/site.css file 0644 0:0 =body{}",
		"usr/share/nginx/html/index.html file 0644 0:0 =<h1>hi</h1>",
	})
}
