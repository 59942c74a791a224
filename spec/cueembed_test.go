package spec

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeModule makes a CUE module in a temporary directory with files (slash
// paths relative to the module root) and returns the root.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["cue.mod/module.cue"] = "module: \"example.com/m\"\nlanguage: version: \"v0.17.0\"\n"
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const embedSpec = `@extern(embed)

package image

_f: _ @embed(file="%s",type=text)
base: "scratch"
annotations: {"x": _f}
`

// TestCUEEmbedConfined checks that @embed obeys the confinement of sources
// (issue 13 point 1): a file of the module embeds, a symlink out of the
// module or a path climbing out of it is refused, and the secret's text
// appears nowhere in the error.
func TestCUEEmbedConfined(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("TOPSECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("inside the module", func(t *testing.T) {
		dir := writeModule(t, map[string]string{
			"svc/image.cue": strings.Replace(embedSpec, "%s", "note.txt", 1),
			"svc/note.txt":  "hello",
		})
		s, err := Load(filepath.Join(dir, "svc"), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Annotations["x"] != "hello" {
			t.Fatalf("annotation x = %q, want hello", s.Annotations["x"])
		}
	})
	t.Run("symlink in the module to a file in it", func(t *testing.T) {
		dir := writeModule(t, map[string]string{
			"svc/image.cue": strings.Replace(embedSpec, "%s", "link.txt", 1),
			"shared/n.txt":  "shared",
		})
		if err := os.Symlink("../shared/n.txt", filepath.Join(dir, "svc", "link.txt")); err != nil {
			t.Fatal(err)
		}
		s, err := Load(filepath.Join(dir, "svc"), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Annotations["x"] != "shared" {
			t.Fatalf("annotation x = %q, want shared", s.Annotations["x"])
		}
	})
	for _, tc := range []struct{ name, link string }{
		{"absolute symlink out", secret},
		{"relative symlink out", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeModule(t, map[string]string{"image.cue": strings.Replace(embedSpec, "%s", "link.txt", 1)})
			target := tc.link
			if target == "" {
				rel, err := filepath.Rel(dir, secret)
				if err != nil {
					t.Fatal(err)
				}
				target = rel
			}
			if err := os.Symlink(target, filepath.Join(dir, "link.txt")); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir, LoadOptions{})
			if err == nil {
				t.Fatal("Load embedded a file outside the module; want an error")
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Fatalf("error shows the secret: %v", err)
			}
			if !strings.Contains(err.Error(), "a path or symlink leaving the CUE module is refused") {
				t.Fatalf("error = %v; want it to say why", err)
			}
		})
	}
	t.Run("path climbing out", func(t *testing.T) {
		dir := writeModule(t, map[string]string{"image.cue": strings.Replace(embedSpec, "%s", "../x.txt", 1)})
		_, err := Load(dir, LoadOptions{})
		if err == nil {
			t.Fatal("Load embedded ../x.txt; want an error")
		}
	})
}

// TestCUENonRegularFiles checks that a FIFO among a package's .cue files or
// as cue.mod/module.cue is refused at once instead of hanging the load
// (issue 13 point 5).
func TestCUENonRegularFiles(t *testing.T) {
	for _, fifo := range []string{"svc/other.cue", "cue.mod/module.cue"} {
		t.Run(fifo, func(t *testing.T) {
			dir := writeModule(t, map[string]string{"svc/image.cue": "package image\nbase: \"scratch\"\n"})
			p := filepath.Join(dir, filepath.FromSlash(fifo))
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := Load(filepath.Join(dir, "svc"), LoadOptions{})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") {
					t.Fatalf("Load error = %v; want it to refuse the FIFO as not a regular file", err)
				}
			case <-time.After(10 * time.Second):
				// Unblock the hung reader so the test ends.
				if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
					f.Close()
				}
				t.Fatal("Load hangs on a FIFO")
			}
		})
	}
}

// TestCUEEmbedOutsideMessage pins the message of an embed through a symlink
// leaving the module.
func TestCUEEmbedOutsideMessage(t *testing.T) {
	dir := writeModule(t, map[string]string{"image.cue": strings.Replace(embedSpec, "%s", "link.txt", 1)})
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, LoadOptions{})
	want := dir + ":1:1: open link.txt: leads outside " + dir + " (a path or symlink leaving the CUE module is refused)"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}
