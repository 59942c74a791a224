package compose

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-build/strata/spec"
)

const canary = "CANARY-6f1d0c-outside-the-context"

// newEnvWithOutside makes ctx next to a directory "outside" holding a canary
// file, and returns the env and the outside directory.
func newEnvWithOutside(t *testing.T, files []tfile) (*testEnv, string) {
	t.Helper()
	env := newEnv(t, files)
	outside := filepath.Join(filepath.Dir(env.dir), "outside")
	makeTree(t, outside, []tfile{{path: "canary.txt", content: canary}, {path: "sub/canary2.txt", content: canary}})
	return env, outside
}

// layerBytes returns the uncompressed and compressed bytes of a layer.
func layerBytes(t *testing.T, bl *builtLayer) (tarBytes, gz []byte) {
	t.Helper()
	for _, f := range []func() (io.ReadCloser, error){bl.Layer.Uncompressed, bl.Layer.Compressed} {
		rc, err := f()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if tarBytes == nil {
			tarBytes = b
		} else {
			gz = b
		}
	}
	return tarBytes, gz
}

func TestBuildLayerSymlinks(t *testing.T) {
	env, outside := newEnvWithOutside(t, []tfile{
		{path: "site/index.html", content: "hi"},
		{path: "site/latest", link: "index.html"},
		{path: "site/dangling", link: "does/not/exist"},
		{path: "site/inner", link: "../lib"},
		{path: "lib/x.so", content: "so"},
	})
	makeTree(t, env.dir, []tfile{
		{path: "site/leak", link: filepath.Join(outside, "canary.txt")},
		{path: "site/up", link: "../../outside/canary.txt"},
		{path: "site/outdir", link: "../../outside"},
		{path: "site/passwd", link: "/etc/passwd"},
		{path: "d", link: outside},
		{path: "plain", link: "../outside/canary.txt"},
	})
	tests := []struct {
		name  string
		files []spec.File
		want  []string
	}{
		{"symlinks under ** are entries, never followed",
			[]spec.File{{Src: "site/**", Dest: "/srv/"}},
			[]string{
				"srv/dangling symlink 0777 0:0 ->does/not/exist",
				"srv/index.html file 0644 0:0 =hi",
				"srv/inner symlink 0777 0:0 ->../lib",
				"srv/latest symlink 0777 0:0 ->index.html",
				"srv/leak symlink 0777 0:0 ->" + filepath.Join(outside, "canary.txt"),
				"srv/outdir symlink 0777 0:0 ->../../outside",
				"srv/passwd symlink 0777 0:0 ->/etc/passwd",
				"srv/up symlink 0777 0:0 ->../../outside/canary.txt",
			}},
		{"a symlinked dir matched by d/** is not descended",
			[]spec.File{{Src: "d/**", Dest: "/x/"}},
			[]string{"x/d symlink 0777 0:0 ->" + outside}},
		{"a plain symlink path is stored as a symlink",
			[]spec.File{{Src: "plain", Dest: "/p"}},
			[]string{"p symlink 0777 0:0 ->../outside/canary.txt"}},
		{"a symlink in the static prefix is not followed",
			[]spec.File{{Src: "site/inner/*.so", Dest: "/l/", Optional: true}, {Src: "lib/*", Dest: "/l/"}},
			[]string{"l/x.so file 0644 0:0 =so"}},
		{"everything from the context root",
			[]spec.File{{Src: "**", Dest: "/"}},
			[]string{
				"d symlink 0777 0:0 ->" + outside,
				"lib/x.so file 0644 0:0 =so",
				"plain symlink 0777 0:0 ->../outside/canary.txt",
				"site/dangling symlink 0777 0:0 ->does/not/exist",
				"site/index.html file 0644 0:0 =hi",
				"site/inner symlink 0777 0:0 ->../lib",
				"site/latest symlink 0777 0:0 ->index.html",
				"site/leak symlink 0777 0:0 ->" + filepath.Join(outside, "canary.txt"),
				"site/outdir symlink 0777 0:0 ->../../outside",
				"site/passwd symlink 0777 0:0 ->/etc/passwd",
				"site/up symlink 0777 0:0 ->../../outside/canary.txt",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bl := env.build(t, spec.Layer{Files: tc.files})
			diffLines(t, summary(readLayer(t, bl)), tc.want)
			tb, _ := layerBytes(t, bl)
			if bytes.Contains(tb, []byte(canary)) {
				t.Fatal("a byte from outside the context is in the layer")
			}
		})
	}
}

func TestBuildLayerHardlinks(t *testing.T) {
	env := newEnv(t, []tfile{
		{path: "a/z_first_created", content: "shared", mode: 0o755},
		{path: "a/plain", content: "plain"},
	})
	for _, l := range []string{"a/b_link", "a/m_link"} {
		if err := os.Link(filepath.Join(env.dir, "a/z_first_created"), filepath.Join(env.dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	bl := env.build(t, spec.Layer{Files: []spec.File{{Src: "a/**", Dest: "/d/"}}})
	diffLines(t, summary(readLayer(t, bl)), []string{
		"d/b_link file 0755 0:0 =shared",
		"d/m_link hardlink 0755 0:0 ->d/b_link",
		"d/plain file 0644 0:0 =plain",
		"d/z_first_created hardlink 0755 0:0 ->d/b_link",
	})
	// A different mode breaks the link: the copies are separate files.
	bl = env.build(t, spec.Layer{Files: []spec.File{
		{Src: "a/b_link", Dest: "/d/"},
		{Src: "a/m_link", Dest: "/d/", Mode: "0700"},
	}})
	diffLines(t, summary(readLayer(t, bl)), []string{
		"d/b_link file 0755 0:0 =shared",
		"d/m_link file 0700 0:0 =shared",
	})
}

// TestBuildLayerSymlinkSwapRace swaps a context directory with a symlink to
// an outside directory holding a canary while layers are built: builds may
// fail, but no outside byte may ever reach a layer (every read goes through
// the os.Root).
func TestBuildLayerSymlinkSwapRace(t *testing.T) {
	env, outside := newEnvWithOutside(t, []tfile{
		{path: "sub.real/canary.txt", content: "inside"},
		{path: "sub.real/sub/canary2.txt", content: "inside"},
		{path: "keep.txt", content: "keep"},
	})
	if err := os.Symlink(outside, filepath.Join(env.dir, "sub.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(env.dir, "sub")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sub := filepath.Join(env.dir, "sub")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// sub is the symlink; swap in the real directory, then back.
			os.Rename(sub, filepath.Join(env.dir, "sub.link"))
			os.Rename(filepath.Join(env.dir, "sub.real"), sub)
			os.Rename(sub, filepath.Join(env.dir, "sub.real"))
			os.Rename(filepath.Join(env.dir, "sub.link"), sub)
		}
	}()
	var ok, failed int
	for i := 0; i < 150; i++ {
		for _, src := range []string{"**", "sub/**", "sub/canary.txt"} {
			bl, err := buildLayer(context.Background(), env.request(spec.Layer{Files: []spec.File{{Src: src, Dest: "/x/", Optional: true}}}))
			if err != nil {
				failed++
				continue
			}
			ok++
			if bl.Layer == nil {
				continue
			}
			tb, _ := layerBytes(t, bl)
			if bytes.Contains(tb, []byte(canary)) {
				close(stop)
				<-done
				t.Fatalf("canary from outside the context in a layer built from %q", src)
			}
		}
	}
	close(stop)
	<-done
	t.Logf("%d builds succeeded, %d failed cleanly", ok, failed)
	if ok == 0 {
		t.Error("no build succeeded; the race test tested nothing")
	}
}
