package layer

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-build/strata/spec"
)

// wantErr checks err's text contains every part, and that the store holds
// no blob, temp file or record.
func (e *testEnv) wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
	if got := e.storeFiles(t); len(got) != 0 {
		t.Errorf("store holds %v after a failed build, want nothing", got)
	}
}

func TestBuildLayerHostileSpec(t *testing.T) {
	tests := []struct {
		name string
		l    spec.Layer
		want []string
	}{
		{"glob climbing out", spec.Layer{Files: []spec.File{{Src: "../secret", Dest: "/x"}}},
			[]string{`layer "layer-0": layers[0].files[0].src: "../secret" has a ".." segment; globs cannot leave the context directory`}},
		{"glob climbing out in the middle", spec.Layer{Files: []spec.File{{Src: "sub/../../x", Dest: "/x"}}},
			[]string{`layers[0].files[0].src: "sub/../../x" has a ".." segment`}},
		{"glob ending in ..", spec.Layer{Files: []spec.File{{Src: "**/..", Dest: "/x/"}}},
			[]string{`layers[0].files[0].src: "**/.." has a ".." segment`}},
		{"absolute glob", spec.Layer{Files: []spec.File{{Src: "/etc/passwd", Dest: "/x"}}},
			[]string{`layers[0].files[0].src: "/etc/passwd" is absolute; globs are relative to the context directory`}},
		{"exclude climbing out", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/x", Exclude: []string{"../x"}}}},
			[]string{`layers[0].files[0].exclude[0]: "../x" has a ".." segment`}},
		{"dest with ..", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/a/../../b"}}},
			[]string{`layers[0].files[0].dest: "/a/../../b" contains a ".." segment`}},
		{"relative dest", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "a/b"}}},
			[]string{`layers[0].files[0].dest: "a/b" is not absolute`}},
		{"file at the root", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/."}}},
			nil},
		{"bad glob", spec.Layer{Files: []spec.File{{Src: "public/[a", Dest: "/x/"}}},
			[]string{`layers[0].files[0].src: "public/[a" is not a valid glob`}},
		{"glob matching nothing", spec.Layer{Files: []spec.File{{Src: "nope/**/*.js", Dest: "/x/"}}},
			[]string{`layers[0].files[0].src: "nope/**/*.js" matched nothing in the context; set optional: true if that is expected`}},
		{"everything excluded", spec.Layer{Files: []spec.File{{Src: "conf/*.conf", Dest: "/x/", Exclude: []string{"**"}}}},
			[]string{`layers[0].files[0].src: "conf/*.conf" matched 2 paths, all of them excluded`}},
		{"no trailing slash, many matches", spec.Layer{Files: []spec.File{{Src: "conf/*.conf", Dest: "/etc/app.conf"}}},
			[]string{`layers[0].files[0].dest: src "conf/*.conf" matched 2 paths (conf/a.conf, conf/b.conf); a dest without a trailing "/" takes exactly one match`}},
		{"two sources, one target", spec.Layer{Files: []spec.File{{Src: "conf/a.conf", Dest: "/etc/x"}, {Src: "conf/b.conf", Dest: "/etc/x"}}},
			[]string{`layers[0].files[1]: two sources for /etc/x: conf/a.conf from layers[0].files[0], and conf/b.conf from layers[0].files[1]`}},
		{"file and declared symlink at one target", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/bin/t"}}, Symlinks: []spec.Symlink{{Path: "/bin/t", Target: "x"}}},
			[]string{`two sources for /bin/t: top.txt from layers[0].files[0], and a declared symlink from layers[0].symlinks[0]`}},
		{"entry below a file", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/a"}, {Src: "bin/app", Dest: "/a/"}}},
			[]string{`/a/app (from bin/app) is inside /a, which layers[0].files[0] adds as a file, not a directory`}},
		{"whiteout-named target", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/a/.wh.x"}}},
			[]string{`layers[0].files[0].dest: "/a/.wh.x": names starting with .wh. are reserved for whiteouts`}},
		{"delete /", spec.Layer{Delete: []string{"/"}}, []string{`layers[0].delete[0]: cannot delete /`}},
		{"delete .wh. name", spec.Layer{Delete: []string{"/etc/.wh.x"}}, []string{`layers[0].delete[0]: "/etc/.wh.x": names starting with .wh. are reserved`}},
		{"clear opaque name", spec.Layer{Clear: []string{"/etc/.wh..wh..opq"}}, []string{`layers[0].clear[0]: "/etc/.wh..wh..opq": names starting with .wh. are reserved`}},
		{"delete below a .wh. dir", spec.Layer{Delete: []string{"/etc/.wh.d/x"}}, []string{`layers[0].delete[0]: "/etc/.wh.d/x": names starting with .wh. are reserved`}},
		{"declared dir below a .wh. dir", spec.Layer{Dirs: []spec.Dir{{Path: "/.wh.d/x"}}}, []string{`layers[0].dirs[0].path: "/.wh.d/x": names starting with .wh. are reserved`}},
		{"delete and clear one path", spec.Layer{Delete: []string{"/etc"}, Clear: []string{"/etc/"}}, []string{`layers[0].clear[0]: /etc is also deleted by layers[0].delete[0]`}},
		{"clear a path the layer adds as a file", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/t"}}, Clear: []string{"/t"}},
			[]string{`layers[0].clear[0]: cannot clear /t: layers[0].files[0] adds a file there, not a directory`}},
		{"bad mode", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/t", Mode: "rwx"}}}, []string{`layers[0].files[0].mode: mode "rwx"`}},
		{"bad owner", spec.Layer{Files: []spec.File{{Src: "top.txt", Dest: "/t", Owner: "root"}}}, []string{`layers[0].files[0].owner: owner "root"`}},
		{"symlink target with newline", spec.Layer{Symlinks: []spec.Symlink{{Path: "/l", Target: "a\nb"}}}, []string{`layers[0].symlinks[0].target: symlink target "a\nb" contains a control character`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, fixtureTree)
			err := env.buildErr(t, tc.l)
			if tc.want == nil {
				tc.want = []string{"cannot be stored at /, the image root"}
			}
			env.wantErr(t, err, tc.want...)
			var se *spec.Error
			if strings.Contains(tc.want[0], "layers[0].") && !errors.As(err, &se) {
				t.Errorf("error %v is not a *spec.Error", err)
			}
		})
	}
}

func TestBuildLayerHostileSources(t *testing.T) {
	env := newEnv(t, []tfile{{path: "ok.txt", content: "ok"}})
	mk := func(name string, f func(p string) error) {
		t.Helper()
		p := filepath.Join(env.dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := f(p); err != nil {
			t.Fatal(err)
		}
	}
	mk("fifo/pipe", func(p string) error { return syscall.Mkfifo(p, 0o644) })
	mk("sock/s", func(p string) error {
		l, err := net.Listen("unix", p)
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return err
	})
	mk("wh/.wh.secret", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) })
	mk("names/bad\nname", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) })
	mk("utf8/bad\xffname", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) })
	mk("whdir/.wh.d/f", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) })
	mk("link/l", func(p string) error { return os.Symlink("a\nb", p) })
	tests := []struct {
		src  string
		want string
	}{
		{"fifo/**", `layer "layer-0": file fifo/pipe: is a named pipe (fifo); only regular files, directories and symlinks can be added`},
		{"sock/**", `file sock/s: is a socket; only regular files`},
		{"wh/**", `file wh/.wh.secret: names starting with .wh. are reserved for whiteouts and cannot be added`},
		{"names/**", `file "names/bad\nname" contains a control character`},
		{"utf8/**", `file "utf8/bad\xffname" is not valid UTF-8`},
		{"whdir/.wh.d/*", `file whdir/.wh.d/f: names starting with .wh. are reserved for whiteouts`},
		{"link/*", `file link/l: symlink target "a\nb" contains a control character`},
	}
	if os.Getuid() == 0 {
		mk("dev/null", func(p string) error { return syscall.Mknod(p, syscall.S_IFCHR|0o666, 1<<8|3) })
		tests = append(tests, struct{ src, want string }{"dev/*", `file dev/null: is a character device`})
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			err := env.buildErr(t, spec.Layer{Files: []spec.File{{Src: "ok.txt", Dest: "/ok"}, {Src: tc.src, Dest: "/x/"}}})
			env.wantErr(t, err, tc.want)
		})
	}
}

func TestBuildLayerFileChangesWhileRead(t *testing.T) {
	tests := []struct {
		name   string
		change func(p string) error
		want   string
	}{
		{"appended", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("more")
			return err
		}, "file big.bin: file changed while reading"},
		{"truncated", func(p string) error { return os.Truncate(p, 10) }, "file big.bin: file changed while reading (short read)"},
		{"rewritten in place", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("XXXX"), 100)
			return err
		}, "file big.bin: file changed while reading"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, []tfile{{path: "big.bin", content: strings.Repeat("0123456789", 1000)}, {path: "a.txt", content: "a"}})
			req := env.request(spec.Layer{Files: []spec.File{{Src: "*", Dest: "/d/"}}})
			// The first build reads each file once; a change must move the
			// file's ctime to be seen, so the clock must have ticked since
			// the fixture was written.
			waitCtimeTick(t, filepath.Join(env.dir, "big.bin"))
			req.beforeRead = func(src string) {
				if src == "big.bin" {
					if err := tc.change(filepath.Join(env.dir, src)); err != nil {
						t.Error(err)
					}
				}
			}
			_, err := Build(context.Background(), req)
			if err == nil {
				t.Fatal("build succeeded")
			}
			if !errors.Is(err, errChanged) {
				t.Errorf("error %v does not wrap errChanged", err)
			}
			env.wantErr(t, err, tc.want)
		})
	}
}
