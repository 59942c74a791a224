package layer

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
func layerBytes(t *testing.T, bl *Built) (tarBytes, gz []byte) {
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
	env, _ := newEnvWithOutside(t, []tfile{
		{path: "site/index.html", content: "hi"},
		{path: "site/latest", link: "index.html"},
		{path: "site/dangling", link: "does/not/exist"},
		{path: "site/inner", link: "../lib"},
		{path: "lib/x.so", content: "so"},
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
			}},
		{"a plain symlink path is stored as a symlink",
			[]spec.File{{Src: "site/inner", Dest: "/p"}},
			[]string{"p symlink 0777 0:0 ->../lib"}},
		{"a symlink in the static prefix is not followed",
			[]spec.File{{Src: "site/inner/*.so", Dest: "/l/", Optional: true}, {Src: "lib/*", Dest: "/l/"}},
			[]string{"l/x.so file 0644 0:0 =so"}},
		{"everything from the context root",
			[]spec.File{{Src: "**", Dest: "/"}},
			[]string{
				"lib/x.so file 0644 0:0 =so",
				"site/dangling symlink 0777 0:0 ->does/not/exist",
				"site/index.html file 0644 0:0 =hi",
				"site/inner symlink 0777 0:0 ->../lib",
				"site/latest symlink 0777 0:0 ->index.html",
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

// TestBuildLayerSymlinksOutOfContext: a source symlink whose target is
// absolute or climbs out of the context is rejected, naming the link and its
// target (spec-v1: stored only if the target stays inside the tree); it is
// never followed, and nothing is written.
func TestBuildLayerSymlinksOutOfContext(t *testing.T) {
	env, outside := newEnvWithOutside(t, []tfile{{path: "site/index.html", content: "hi"}})
	abs := filepath.Join(outside, "canary.txt")
	makeTree(t, env.dir, []tfile{
		{path: "leak/l", link: abs},
		{path: "up/l", link: "../../outside/canary.txt"},
		{path: "updir/l", link: "../../outside"},
		{path: "passwd/l", link: "/etc/passwd"},
		{path: "d", link: outside},
		{path: "plain", link: "../outside/canary.txt"},
	})
	const absMsg = ": an absolute target points outside the context; declare the link under symlinks: if the image needs it"
	const relMsg = " points outside the context; declare the link under symlinks: if the image needs it"
	tests := []struct{ src, want string }{
		{"leak/**", `layer "layer-0": file leak/l: symlink to ` + abs + absMsg},
		{"up/**", `layer "layer-0": file up/l: symlink to ../../outside/canary.txt` + relMsg},
		{"updir/**", `layer "layer-0": file updir/l: symlink to ../../outside` + relMsg},
		{"passwd/**", `layer "layer-0": file passwd/l: symlink to /etc/passwd` + absMsg},
		{"d/**", `layer "layer-0": file d: symlink to ` + outside + absMsg},
		{"plain", `layer "layer-0": file plain: symlink to ../outside/canary.txt` + relMsg},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			err := env.buildErr(t, spec.Layer{Files: []spec.File{{Src: tc.src, Dest: "/x/"}}})
			if err.Error() != tc.want {
				t.Errorf("error:\n got  %s\n want %s", err, tc.want)
			}
			if files := env.storeFiles(t); len(files) != 0 {
				t.Errorf("store holds %v after a rejected build", files)
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
			bl, err := Build(context.Background(), env.request(spec.Layer{Files: []spec.File{{Src: src, Dest: "/x/", Optional: true}}}))
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

// TestBuildLayerSrcThroughSymlink: a src whose static prefix goes through a
// symlinked directory matches nothing (links are not followed), and the
// error says why instead of suggesting optional.
func TestBuildLayerSrcThroughSymlink(t *testing.T) {
	env := newEnv(t, []tfile{
		{path: "real/r", content: "r"},
		{path: "inlink", link: "real"},
	})
	for _, src := range []string{"inlink/r", "inlink/*"} {
		err := env.buildErr(t, spec.Layer{Files: []spec.File{{Src: src, Dest: "/x/"}}})
		want := `layer "layer-0": layers[0].files[0].src: "` + src + `" matched nothing: inlink is a symlink in the context, and symlinks are not followed; name the directory it points to in src`
		if err.Error() != want {
			t.Errorf("src %s:\n got  %s\n want %s", src, err, want)
		}
	}
}
