package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/strata-build/strata/spec"
)

// tarMember is one entry of a test archive.
type tarMember struct {
	name     string
	typ      byte
	mode     int64
	content  string
	linkname string
}

// makeArchive writes a tar (gzipped when gz) with host-like metadata (owners,
// names, mtimes) that extraction must normalise.
func makeArchive(t *testing.T, path string, gz bool, members []tarMember) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i, m := range members {
		h := &tar.Header{
			Name: m.name, Typeflag: m.typ, Mode: m.mode, Linkname: m.linkname,
			Uid: 1000 + i, Gid: 2000, Uname: "builder", Gname: "staff",
			ModTime: time.Unix(1234567890+int64(i), 0), Format: tar.FormatPAX,
		}
		if m.typ == tar.TypeReg {
			h.Size = int64(len(m.content))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

var goArchive = []tarMember{
	{name: "./", typ: tar.TypeDir, mode: 0o755},
	{name: "go/", typ: tar.TypeDir, mode: 0o755},
	{name: "go/bin/", typ: tar.TypeDir, mode: 0o755},
	{name: "go/bin/go", typ: tar.TypeReg, mode: 0o755, content: "gobin"},
	{name: "go/bin/gofmt", typ: tar.TypeLink, mode: 0o755, linkname: "go/bin/go"},
	{name: "./go/bin/a-link", typ: tar.TypeLink, mode: 0o755, linkname: "./go/bin/go"},
	{name: "go/README", typ: tar.TypeReg, mode: 0o644, content: "readme"},
	{name: "go/link", typ: tar.TypeSymlink, mode: 0o777, linkname: "bin/go"},
	{name: "go/abs", typ: tar.TypeSymlink, mode: 0o777, linkname: "/usr/bin/env"},
	{name: "go/secret/", typ: tar.TypeDir, mode: 0o700},
	{name: "go/secret/key", typ: tar.TypeReg, mode: 0o600, content: "k"},
	{name: "go/suid", typ: tar.TypeReg, mode: 0o4755, content: "s"},
	{name: "go/emptydir/", typ: tar.TypeDir, mode: 0o755},
}

func TestBuildLayerExtract(t *testing.T) {
	env := newEnv(t, []tfile{{path: "x.txt", content: "x"}})
	raw := makeArchive(t, filepath.Join(env.dir, "dl/go.tar"), false, goArchive)
	makeArchive(t, filepath.Join(env.dir, "dl/go.tar.gz"), true, goArchive)
	sum := sha256.Sum256(raw)
	want := []string{
		"opt/go/README file 0644 U =readme",
		"opt/go/abs symlink 0777 U ->/usr/bin/env",
		"opt/go/bin/a-link file 0755 U =gobin",
		"opt/go/bin/go hardlink 0755 U ->opt/go/bin/a-link",
		"opt/go/bin/gofmt hardlink 0755 U ->opt/go/bin/a-link",
		"opt/go/emptydir/ dir 0755 U",
		"opt/go/link symlink 0777 U ->bin/go",
		"opt/go/secret/ dir 0700 U",
		"opt/go/secret/key file 0600 U =k",
		"opt/go/suid file 4755 U =s",
	}
	tests := []struct {
		name  string
		file  spec.File
		owner string
	}{
		{"tar", spec.File{Src: "dl/go.tar", Dest: "/opt/", Extract: true}, "0:0"},
		{"tar.gz with owner", spec.File{Src: "dl/*.tar.gz", Dest: "/opt", Extract: true, Owner: "101:102"}, "101:102"},
		{"pinned", spec.File{Src: "dl/go.tar", Dest: "/opt/", Extract: true, Sha256: hex.EncodeToString(sum[:])}, "0:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bl := env.build(t, spec.Layer{Files: []spec.File{tc.file}})
			var w []string
			for _, s := range want {
				w = append(w, replaceU(s, tc.owner))
			}
			diffLines(t, summary(readLayer(t, bl)), w)
			wantSrc := "dl/go.tar!go/README"
			if tc.owner != "0:0" {
				wantSrc = "dl/go.tar.gz!go/README"
			}
			if bl.Entries[0].Source != wantSrc || bl.Entries[0].Target != "/opt/go/README" {
				t.Errorf("first entry %+v, want source %s", bl.Entries[0], wantSrc)
			}
		})
	}
	t.Run("same layer from tar and tar.gz", func(t *testing.T) {
		a := env.build(t, spec.Layer{Files: []spec.File{{Src: "dl/go.tar", Dest: "/opt/", Extract: true}}})
		b := env.build(t, spec.Layer{Files: []spec.File{{Src: "dl/go.tar.gz", Dest: "/opt/", Extract: true}}})
		da, _ := a.Layer.DiffID()
		db, _ := b.Layer.DiffID()
		if da != db {
			t.Errorf("diffIDs differ: %s vs %s", da, db)
		}
	})
}

func replaceU(s, owner string) string {
	return string(bytes.Replace([]byte(s), []byte(" U"), []byte(" "+owner), 1))
}

func TestBuildLayerExtractHostile(t *testing.T) {
	tests := []struct {
		name    string
		members []tarMember
		want    string
	}{
		{"dot-dot", []tarMember{{name: "a/../../evil", typ: tar.TypeReg, mode: 0o644, content: "x"}},
			`file a.tar: entry "a/../../evil": a ".." segment would escape dest`},
		{"absolute", []tarMember{{name: "/etc/passwd", typ: tar.TypeReg, mode: 0o644, content: "x"}},
			`file a.tar: entry "/etc/passwd": absolute names are not allowed in an extracted archive`},
		{"through a symlink", []tarMember{
			{name: "lnk", typ: tar.TypeSymlink, mode: 0o777, linkname: "/etc"},
			{name: "lnk/passwd", typ: tar.TypeReg, mode: 0o644, content: "x"}},
			`file a.tar: entry "lnk/passwd" is below "lnk", a symlink in the archive; entries cannot escape dest through a link`},
		{"hard link out", []tarMember{{name: "h", typ: tar.TypeLink, mode: 0o644, linkname: "../../etc/shadow"}},
			`file a.tar: entry "h": hard link target "../../etc/shadow": escapes the archive or is invalid`},
		{"hard link to nothing", []tarMember{{name: "h", typ: tar.TypeLink, mode: 0o644, linkname: "missing"}},
			`file a.tar: hard link "h" points to "missing", which is not a regular file in the archive`},
		{"char device", []tarMember{{name: "dev/null", typ: tar.TypeChar, mode: 0o666}},
			`file a.tar: entry "dev/null" is a device or fifo; archives may hold only files, directories and links`},
		{"fifo", []tarMember{{name: "p", typ: tar.TypeFifo, mode: 0o666}},
			`entry "p" is a device or fifo`},
		{"whiteout name", []tarMember{{name: "etc/.wh.passwd", typ: tar.TypeReg, mode: 0o644}},
			`entry "etc/.wh.passwd": names starting with .wh. are reserved for whiteouts`},
		{"duplicate", []tarMember{{name: "a", typ: tar.TypeReg, mode: 0o644}, {name: "./a", typ: tar.TypeReg, mode: 0o644}},
			`entry "./a" appears twice in the archive`},
		{"control character", []tarMember{{name: "a\rb", typ: tar.TypeReg, mode: 0o644}},
			`name "a\rb" contains a control character`},
		{"invalid UTF-8", []tarMember{{name: "a\xffb", typ: tar.TypeReg, mode: 0o644}},
			`name "a\xffb" is not valid UTF-8`},
		{"whiteout directory component", []tarMember{{name: ".wh.d/x", typ: tar.TypeReg, mode: 0o644}},
			`entry ".wh.d/x": names starting with .wh. are reserved for whiteouts`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			makeArchive(t, filepath.Join(env.dir, "a.tar"), tc.name == "absolute", tc.members)
			err := env.buildErr(t, spec.Layer{Files: []spec.File{{Src: "a.tar", Dest: "/x/", Extract: true}}})
			env.wantErr(t, err, tc.want)
		})
	}
	t.Run("sha256 mismatch", func(t *testing.T) {
		env := newEnv(t, nil)
		raw := makeArchive(t, filepath.Join(env.dir, "a.tar"), false, goArchive)
		sum := sha256.Sum256(raw)
		bad := "00" + hex.EncodeToString(sum[1:])
		err := env.buildErr(t, spec.Layer{Files: []spec.File{{Src: "a.tar", Dest: "/x/", Extract: true, Sha256: bad}}})
		env.wantErr(t, err, `layers[0].files[0].sha256: a.tar has sha256 `+hex.EncodeToString(sum[:])+`, want `+bad)
	})
	t.Run("extract needs a regular file", func(t *testing.T) {
		env := newEnv(t, []tfile{{path: "l.tar", link: "x.tar"}, {path: "x.tar", content: "x"}})
		err := env.buildErr(t, spec.Layer{Files: []spec.File{{Src: "l.tar", Dest: "/x/", Extract: true}}})
		env.wantErr(t, err, `file l.tar: extract needs a regular file (a .tar, .tar.gz or .tar.zst archive), not a symlink`)
	})
}

func TestBuildLayerExtractZstd(t *testing.T) {
	env := newEnv(t, nil)
	raw := makeArchive(t, filepath.Join(env.dir, "go.tar"), false, goArchive)
	var z bytes.Buffer
	zw, err := zstd.NewWriter(&z)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(filepath.Join(env.dir, "go.tar.zst"), z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	a := env.build(t, spec.Layer{Files: []spec.File{{Src: "go.tar", Dest: "/opt/", Extract: true}}})
	b := env.build(t, spec.Layer{Files: []spec.File{{Src: "go.tar.zst", Dest: "/opt/", Extract: true}}})
	da, _ := a.Layer.DiffID()
	db, _ := b.Layer.DiffID()
	if da != db {
		t.Errorf("zstd archive gave diffID %s, plain tar %s", db, da)
	}
}
