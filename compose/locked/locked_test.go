package locked_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/locked"
	"github.com/strata-build/strata/internal/fixture"
	"github.com/strata-build/strata/spec"
	"github.com/strata-build/strata/spec/lock"
)

// TestLockPinsMovedTag: a lock made today keeps building from the locked
// base after the base tag is re-pointed to another image, with no request
// once the base is cached, and gives the digest the unpinned build gave
// (the base.name annotation still names the tag).
func TestLockPinsMovedTag(t *testing.T) {
	ctx := context.Background()
	reg := fixture.NewRegistry(t)
	amd64 := fixture.Platform(t, "linux/amd64")
	reg.Push(t, "lib/base:1", fixture.Image(t, amd64, 1, true))
	other := fixture.Image(t, amd64, 2, true)
	dir := t.TempDir()
	fixture.WriteTree(t, dir, map[string]string{"hello.txt": "hello\n"})
	s := &spec.Spec{Base: reg.Host + "/lib/base:1", Context: dir,
		Layers: []spec.Layer{{Name: "app", Files: []spec.File{{Src: "hello.txt", Dest: "/app/hello.txt"}}}}}
	cache := t.TempDir()
	opts := []compose.Option{compose.WithRemote(remote.WithTransport(reg.Transport)), compose.WithCreated(time.Unix(1700000000, 0))}

	res, err := compose.Build(ctx, s, cache, opts...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := locked.New(res, 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	if l.Base.Ref != s.Base || l.Base.Digest != res.Platforms[0].BaseDigest.String() || l.Result.Digest != res.Digest.String() {
		t.Fatalf("lock %+v does not record the build %s on base %s", l, res.Digest, res.Platforms[0].BaseDigest)
	}

	reg.Push(t, "lib/base:1", other) // the tag moves
	moved, err := compose.Build(ctx, s, cache, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if moved.Digest == res.Digest {
		t.Fatal("the re-pointed tag did not change the unpinned build; the test proves nothing")
	}
	if err := locked.Check(ctx, moved, l, cache); err == nil {
		t.Error("CheckLock accepted a build from the moved tag")
	}

	pins, err := locked.BasePins([]*lock.Lock{l})
	if err != nil {
		t.Fatal(err)
	}
	reg.Transport.N.Store(0)
	pinned, err := compose.Build(ctx, s, cache, append(opts, compose.WithBasePins(pins))...)
	if err != nil {
		t.Fatal(err)
	}
	if pinned.Digest != res.Digest {
		t.Errorf("pinned build = %s, want the locked %s", pinned.Digest, res.Digest)
	}
	if n := reg.Transport.N.Load(); n != 0 {
		t.Errorf("pinned build of a cached base made %d requests:\n%s", n, reg.Transport.Requests())
	}
	if err := locked.Check(ctx, pinned, l, cache); err != nil {
		t.Errorf("CheckLock of the pinned build: %v", err)
	}

	// A source change: the mismatch names the platform, the layer and the
	// path (the locked layer is still in the cache).
	fixture.WriteTree(t, dir, map[string]string{"hello.txt": "hello, world\n"})
	changed, err := compose.Build(ctx, s, cache, append(opts, compose.WithBasePins(pins))...)
	if err != nil {
		t.Fatal(err)
	}
	err = locked.Check(ctx, changed, l, cache)
	var me *locked.MismatchError
	if !errors.As(err, &me) || me.Platform != "linux/amd64" {
		t.Fatalf("CheckLock after a source change: %v, want a mismatch on linux/amd64", err)
	}
	want := `layer "app" differs (locked ` + l.Result.Platforms["linux/amd64"].Layers[0].Digest + `, built ` + changed.Platforms[0].Layers[0].Digest.String() + `): changed /app/hello.txt`
	if me.Detail != want {
		t.Errorf("detail\n got %s\nwant %s", me.Detail, want)
	}
}

// tarOf returns a tar holding one file.
func tarOf(t *testing.T, name, body string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	return b.Bytes()
}

// TestCheckLockInputs: the rules that make a lock stale (exit 2 for the
// CLI) rather than a different result.
func TestCheckLockInputs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pkg.tar"), tarOf(t, "bin/tool", "v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture.WriteTree(t, dir, map[string]string{"motd": "hi\n"})
	mk := func() *spec.Spec {
		return &spec.Spec{Base: "scratch", Context: dir, Layers: []spec.Layer{{Name: "tools", Files: []spec.File{
			{Src: "pkg.tar", Dest: "/opt/", Extract: true},
			{Src: "motd", Dest: "/etc/motd"},
		}}}}
	}
	res, err := compose.Plan(ctx, mk(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := locked.New(res, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Sources) != 1 || !strings.HasPrefix(l.Sources["pkg.tar"], "sha256:") {
		t.Fatalf("sources %v, want pkg.tar's sha256 only", l.Sources)
	}
	oldSum := l.Sources["pkg.tar"]
	for _, tc := range []struct {
		name  string
		edit  func(s *spec.Spec)
		epoch int64
		want  string
	}{
		{"unchanged", nil, 5, ""},
		{"a plain file is not an input of the lock", func(*spec.Spec) { fixture.WriteTree(t, dir, map[string]string{"motd": "bye\n"}) }, 5, ""},
		{"base", func(s *spec.Spec) { s.Base = "example.com/base:1" }, 5, `the lock is stale: the spec's base is "example.com/base:1", the lock's "scratch"`},
		{"epoch", nil, 6, "the lock is stale: SOURCE_DATE_EPOCH is 6, the lock was made with 5"},
		{"platforms", func(s *spec.Spec) { s.Platforms = []string{"linux/arm64", "linux/amd64"} }, 5, "the lock is stale: the spec builds linux/amd64, linux/arm64, the lock has linux/amd64"},
		{"archive dropped", func(s *spec.Spec) { s.Layers[0].Files = s.Layers[0].Files[1:] }, 5, "the lock is stale: archive source pkg.tar is in the lock but not used by the spec"},
		{"archive changed", func(*spec.Spec) {
			if err := os.WriteFile(filepath.Join(dir, "pkg.tar"), tarOf(t, "bin/tool", "v2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 5, "the lock is stale: archive source pkg.tar has sha256 SUM, the lock " + oldSum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mk()
			if tc.edit != nil {
				tc.edit(s)
			}
			want := tc.want
			if strings.Contains(want, "SUM") {
				f, _ := os.ReadFile(filepath.Join(dir, "pkg.tar"))
				sum, _, _ := v1.SHA256(bytes.NewReader(f))
				want = strings.Replace(want, "SUM", sum.String(), 1)
			}
			err := locked.CheckInputs(s, l, tc.epoch)
			var se *locked.StaleError
			switch {
			case want == "" && err != nil:
				t.Errorf("CheckLockInputs: %v, want nil", err)
			case want != "" && (!errors.As(err, &se) || err.Error() != want):
				t.Errorf("CheckLockInputs:\n got %v\nwant %s", err, want)
			}
		})
	}
}
