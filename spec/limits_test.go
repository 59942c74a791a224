package spec

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLoadLimits covers inputs that must be refused before parsing: an
// oversized spec, a FIFO (reading it would block), an empty directory and
// an oversized CUE package (L5).
func TestLoadLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	data := "base: scratch\nimage: \"" + strings.Repeat("a", MaxSpecSize) + "\"\n"
	if err := os.WriteFile(big, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	bigPkg := filepath.Join(dir, "bigpkg")
	if err := os.Mkdir(bigPkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, part := range []string{"a", "b"} {
		body := "package p\n\n// " + strings.Repeat("x", MaxSpecSize/2+10) + "\n"
		if i == 0 {
			body += "base: \"scratch\"\n"
		}
		if err := os.WriteFile(filepath.Join(bigPkg, part+".cue"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]string{
		big:                                big + ":1:1: spec is larger than 1048576 bytes; keep specs small",
		fifo:                               fifo + ":1:1: not a regular file; want a spec file or a CUE package directory",
		empty:                              empty + ":1:1: no .cue files in directory; want a CUE package directory or a .yaml, .yml or .cue file",
		bigPkg:                             bigPkg + ":1:1: CUE package is larger than 1048576 bytes; keep specs small",
		filepath.Join(dir, "missing.yaml"): filepath.Join(dir, "missing.yaml") + ": cannot read spec: no such file or directory",
	}
	for path, want := range tests {
		_, err := Load(path, LoadOptions{})
		if err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v\nwant %s", filepath.Base(path), err, want)
		}
		if _, ok := err.(ErrorList); !ok {
			t.Errorf("Load(%s) error is %T, want ErrorList", filepath.Base(path), err)
		}
	}
}
