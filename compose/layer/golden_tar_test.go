package layer

import (
	"bytes"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-build/strata/spec"
)

var updateGolden = flag.Bool("layers.update", false, "rewrite compose/testdata/golden/*.tar.hex from the current output")

// TestBuildLayerGoldenTarBytes pins the exact tar bytes of a small layer,
// stored as a hex dump (testdata/golden/small-layer.tar.hex, 32 bytes per
// line) so a change shows which header block and field moved. The layer
// holds, in order, with mtime 2023-11-14T22:13:20Z and USTAR headers:
//
//	etc/.wh.motd          regular, 0644, 0:0, empty (delete: /etc/motd)
//	etc/app/              dir, 0750, 1:2 (declared)
//	etc/app/app.conf      regular, 0640, 1:2, "k=v\n"
//	usr/local/bin/app     symlink, 0777, 0:0 → /opt/app/app
//
// followed by the two zero blocks that end a tar stream. Regenerate with
// go test ./compose -run GoldenTarBytes -layers.update, and explain why in
// the commit: every layer digest changes with it.
func TestBuildLayerGoldenTarBytes(t *testing.T) {
	env := newEnv(t, []tfile{{path: "app.conf", content: "k=v\n"}})
	bl := env.build(t, spec.Layer{
		Delete:   []string{"/etc/motd"},
		Files:    []spec.File{{Src: "app.conf", Dest: "/etc/app/", Mode: "0640", Owner: "1:2"}},
		Dirs:     []spec.Dir{{Path: "/etc/app", Mode: "0750", Owner: "1:2"}},
		Symlinks: []spec.Symlink{{Path: "/usr/local/bin/app", Target: "/opt/app/app"}},
	})
	rc, err := bl.Layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden", "small-layer.tar.hex")
	if *updateGolden {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, []byte(hexLines(got)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -layers.update to create it)", err)
	}
	wantBytes, err := hex.DecodeString(strings.Join(strings.Fields(string(want)), ""))
	if err != nil {
		t.Fatalf("bad golden file: %v", err)
	}
	if !bytes.Equal(got, wantBytes) {
		gl, wl := strings.Split(hexLines(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("tar bytes differ from %s at offset %d (header block %d):\ngot  %s\nwant %s", golden, i*32, i*32/512, g, w)
			}
		}
	}
	if summary := summary(readTar(t, bytes.NewReader(got))); len(summary) != 4 {
		t.Errorf("golden tar has %d entries, want 4: %v", len(summary), summary)
	}
}

// hexLines renders b as lines of 32 hex-encoded bytes.
func hexLines(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(32, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}
