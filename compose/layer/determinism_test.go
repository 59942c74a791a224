package layer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/pinnedgzip"
	"github.com/strata-build/strata/spec"
)

// Golden digests of the layer built from goldenTree with goldenLayer at
// testCreated (2023-11-14T22:13:20Z). The tar (diffID) is, in order:
//
//	app/bin/run            0755 0:0 file    "#!/bin/sh\necho run\n"
//	app/bin/run-again      0755 0:0 hardlink → app/bin/run
//	app/data/blob.bin      0644 0:0 file    4096 bytes from PCG(1, 2)
//	app/data/empty/        0755 0:0 dir
//	app/data/long…(120 B)  0644 0:0 file    PAX "path" record
//	app/data/ünï.txt       0644 0:0 file    PAX "path" record
//	app/etc/.wh.old        0644 0:0 whiteout (delete: /app/etc/old)
//	app/etc/app.conf       0600 7:8 file    explicit mode and owner
//	app/latest             0777 0:0 symlink → bin/run
//	app/var/               0750 1:1 dir     (declared)
//
// If goldenDiffID changes, the tar bytes changed (header rules, order,
// contents). If only goldenDigest changes, the compressor output changed (a
// pgzip/klauspost upgrade, level or block size): bump pinnedgzip.Format.
const (
	goldenDiffID = "sha256:f97940253ab2b4fe92e148853af8011c15e424991ca1de6a0c0c3a970cad31b7"
	goldenDigest = "sha256:1732d4369196bc5b5b2d74bd03a8212067620fe74e087b57875f4cd1e536a1e6"
)

var goldenLayer = spec.Layer{
	Name:   "golden",
	Delete: []string{"/app/etc/old"},
	Files: []spec.File{
		{Src: "src/**", Dest: "/app/", Exclude: []string{"**/*.tmp", "src/etc/**"}},
		{Src: "src/etc/app.conf", Dest: "/app/etc/", Mode: "0600", Owner: "7:8"},
	},
	Dirs:     []spec.Dir{{Path: "/app/var", Mode: "0750", Owner: "1:1"}},
	Symlinks: []spec.Symlink{{Path: "/app/latest", Target: "bin/run"}},
}

var longName = strings.Repeat("long-name-", 12) + ".txt"

// goldenTree is the input of the golden layer.
func goldenTree() []tfile {
	blob := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	return []tfile{
		{path: "src/bin/run", content: "#!/bin/sh\necho run\n", mode: 0o755},
		{path: "src/data/blob.bin", content: string(blob)},
		{path: "src/data/empty", dir: true},
		{path: "src/data/" + longName, content: "long\n"},
		{path: "src/data/ünï.txt", content: "unicode\n"},
		{path: "src/data/scratch.tmp", content: "excluded"},
		{path: "src/etc/app.conf", content: "key=value\n"},
	}
}

// fixtureVariant describes how the host differs between two builds.
type fixtureVariant struct {
	reverse    bool // create files in reverse order
	mtimes     bool // random mtimes and atimes on everything
	umask      int  // umask while creating (and no chmod of files)
	chown      bool // chown sources to 1234:5678
	gomaxprocs int
}

// buildGolden creates the golden tree under a fresh absolute path with the
// variant applied, builds the golden layer and returns its digests.
func buildGolden(t *testing.T, v fixtureVariant) (digest, diffID string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), fmt.Sprintf("ctx-%d", rand.Int()), "nested")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := goldenTree()
	if v.reverse {
		slices.Reverse(files)
	}
	if v.umask != 0 {
		old := syscall.Umask(v.umask)
		defer syscall.Umask(old)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if f.dir {
			if err := os.Mkdir(p, 0o777); err != nil {
				t.Fatal(err)
			}
			continue
		}
		m := os.FileMode(0o666)
		if f.mode&0o111 != 0 {
			m = 0o777
		}
		if err := os.WriteFile(p, []byte(f.content), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "src/bin/run"), filepath.Join(dir, "src/bin/run-again")); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if v.mtimes {
			ts := time.Unix(r.Int64N(2e9), r.Int64N(1e9))
			os.Chtimes(p, ts, ts)
		}
		if v.chown {
			if err := os.Lchown(p, 1234, 5678); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if v.gomaxprocs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(v.gomaxprocs))
	}
	env := openEnv(t, dir)
	req := env.request(goldenLayer)
	bl, err := Build(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := bl.Layer.Digest()
	di, _ := bl.Layer.DiffID()
	return d.String(), di.String()
}

func TestBuildLayerGolden(t *testing.T) {
	digest, diffID := buildGolden(t, fixtureVariant{})
	if diffID != goldenDiffID {
		t.Errorf("diffID (tar bytes) = %s, want %s", diffID, goldenDiffID)
	}
	if digest != goldenDigest {
		t.Errorf("digest (compressed bytes) = %s, want %s", digest, goldenDigest)
	}
}

func TestBuildLayerDeterminism(t *testing.T) {
	baseDigest, baseDiffID := buildGolden(t, fixtureVariant{})
	variants := map[string]fixtureVariant{
		"rebuild":          {},
		"reverse creation": {reverse: true},
		"random mtimes":    {mtimes: true},
		"umask 022":        {umask: 0o022},
		"umask 002":        {umask: 0o002},
		"gomaxprocs 1":     {gomaxprocs: 1},
		"gomaxprocs 2":     {gomaxprocs: 2},
		"everything":       {reverse: true, mtimes: true, umask: 0o027, gomaxprocs: 1},
	}
	if os.Getuid() == 0 {
		variants["chown 1234:5678"] = fixtureVariant{chown: true}
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			d, di := buildGolden(t, v)
			if di != baseDiffID {
				t.Errorf("diffID %s, want %s", di, baseDiffID)
			}
			if d != baseDigest {
				t.Errorf("digest %s, want %s", d, baseDigest)
			}
		})
	}
}

// TestBuildLayerGoldenEntries pins the entry list the golden digests cover.
func TestBuildLayerGoldenEntries(t *testing.T) {
	env := newEnv(t, nil)
	dir := env.dir
	for _, f := range goldenTree() {
		makeTree(t, dir, []tfile{f})
	}
	if err := os.Link(filepath.Join(dir, "src/bin/run"), filepath.Join(dir, "src/bin/run-again")); err != nil {
		t.Fatal(err)
	}
	bl := env.build(t, goldenLayer)
	es := readLayer(t, bl)
	var names []string
	for _, e := range summary(es) {
		if len(e) > 80 {
			e = e[:80]
		}
		names = append(names, e)
	}
	diffLines(t, names, []string{
		"app/bin/run file 0755 0:0 =#!/bin/sh\necho run\n",
		"app/bin/run-again hardlink 0755 0:0 ->app/bin/run",
		("app/data/blob.bin file 0644 0:0 =" + es[2].content)[:80],
		"app/data/empty/ dir 0755 0:0",
		("app/data/" + longName + " file 0644 0:0 =long\n")[:80],
		"app/data/ünï.txt file 0644 0:0 =unicode\n",
		"app/etc/.wh.old file 0644 0:0",
		"app/etc/app.conf file 0600 7:8 =key=value\n",
		"app/latest symlink 0777 0:0 ->bin/run",
		"app/var/ dir 0750 1:1",
	})
	if es[4].hdr.Format != 0 && es[4].hdr.PAXRecords["path"] == "" {
		t.Errorf("long name header %+v has no PAX path record", es[4].hdr)
	}
}

// TestBuildLayerMultiBlockDeterminism checks a layer spanning several gzip
// blocks is byte-identical with one and two cores.
func TestBuildLayerMultiBlockDeterminism(t *testing.T) {
	data := make([]byte, 5<<20+123)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		if i%4096 < 2048 {
			data[i] = "abcdefgh"[r.IntN(8)] // compressible half
		} else {
			data[i] = byte(r.Uint32())
		}
	}
	env := newEnv(t, []tfile{{path: "big", content: string(data)}})
	l := spec.Layer{Files: []spec.File{{Src: "big", Dest: "/big"}}}
	var got []string
	for _, procs := range []int{1, 2, 1} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			req := env.request(l)
			req.DryRun = true // no cache: compress every time
			bl, err := Build(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := bl.Layer.Digest()
			sz, _ := bl.Layer.Size()
			if sz <= pinnedgzip.BlockSize {
				t.Fatalf("compressed size %d fits one block", sz)
			}
			got = append(got, d.String())
		}()
	}
	if got[0] != got[1] || got[1] != got[2] {
		t.Errorf("digests with GOMAXPROCS 1, 2, 1: %v", got)
	}
}
