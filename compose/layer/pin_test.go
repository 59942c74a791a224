package layer

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/strata-build/strata/spec"
)

// TestBuildLayerPinnedFile: sha256 on a plain (non-extract) file is checked
// before the layer is written; a wrong pin, a pin on several matches or on a
// directory is an error naming the sha256 field, and nothing is stored.
func TestBuildLayerPinnedFile(t *testing.T) {
	sum := sha256.Sum256([]byte("binary v1"))
	good := hex.EncodeToString(sum[:])
	env := newEnv(t, []tfile{
		{path: "bin/app", content: "binary v1", mode: 0o755},
		{path: "bin/other", content: "other"},
	})
	bl := env.build(t, spec.Layer{Files: []spec.File{{Src: "bin/app", Dest: "/usr/local/bin/app", Sha256: good}}})
	diffLines(t, summary(readLayer(t, bl)), []string{"usr/local/bin/app file 0755 0:0 =binary v1"})

	bad := "00" + good[2:]
	tests := []struct {
		name string
		f    spec.File
		want string
	}{
		{"wrong content", spec.File{Src: "bin/other", Dest: "/o", Sha256: bad},
			`layer "layer-0": layers[0].files[0].sha256: bin/other has sha256 ` + hexSum("other") + `, want ` + bad},
		{"several matches", spec.File{Src: "bin/*", Dest: "/b/", Sha256: good},
			`layer "layer-0": layers[0].files[0].sha256: sha256 pins one file, but src "bin/*" matched 2 paths (bin/app, bin/other)`},
		{"a directory", spec.File{Src: "bin", Dest: "/b/", Sha256: good},
			`layer "layer-0": layers[0].files[0].sha256: sha256 pins a regular file, but bin is a directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fresh := openEnv(t, env.dir)
			err := fresh.buildErr(t, spec.Layer{Files: []spec.File{tc.f}})
			if err.Error() != tc.want {
				t.Errorf("error:\n got  %s\n want %s", err, tc.want)
			}
			if files := fresh.storeFiles(t); len(files) != 0 {
				t.Errorf("store holds %v after a rejected build", files)
			}
		})
	}
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
