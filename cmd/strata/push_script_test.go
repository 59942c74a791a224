package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/strata-build/strata/internal/testregistry"
)

// registryScripts are the script name prefixes that get registries.
var registryScripts = []string{"push_", "registry_", "tags_", "inspect_", "delete_", "copy_"}

// scriptSetup prepares the environment of registry scripts:
//
//   - DOCKER_CONFIG points at an empty $WORK/.docker (never the real home);
//   - REGISTRY is an in-process ggcr registry holding the fixture image
//     $REGISTRY/fixtures/img:1 (linux/amd64, 2 layers);
//   - FREEPORT is a free 127.0.0.1 port (for `strata registry serve`);
//   - DISTRIBUTION, for scripts whose name contains "_distribution", is a
//     docker-registry (distribution 2.8) with deletes enabled, holding the
//     same fixture at $DISTRIBUTION/fixtures/img:1;
//   - AUTHREGISTRY, for scripts whose name contains "_auth", is a registry
//     that wants basic auth (see startAuthRegistry);
//   - REPOROOT is the repository root (for image.yaml.example).
func scriptSetup(e *testscript.Env) error {
	name := strings.TrimPrefix(filepath.Base(e.WorkDir), "script-")
	match := false
	for _, p := range registryScripts {
		match = match || strings.HasPrefix(name, p)
	}
	if !match {
		return nil
	}
	docker := filepath.Join(e.WorkDir, ".docker")
	if err := os.MkdirAll(docker, 0o755); err != nil {
		return err
	}
	e.Setenv("DOCKER_CONFIG", docker)
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	e.Defer(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	e.Setenv("REGISTRY", host)
	if err := pushFixture(host + "/fixtures/img:1"); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.Setenv("FREEPORT", fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	l.Close()
	if strings.Contains(name, "_auth") {
		startAuthRegistry(e)
	}
	if strings.Contains(name, "_distribution") {
		r := testregistry.Start(&scriptTB{e}, launchProgram)
		e.Setenv("DISTRIBUTION", r.Host)
		if err := pushFixture(r.Host + "/fixtures/img:1"); err != nil {
			return err
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	e.Setenv("REPOROOT", root)
	// cosign and oras, installed pinned by `make tools`, are found there.
	e.Setenv("PATH", filepath.Join(root, ".bin")+string(os.PathListSeparator)+e.Getenv("PATH"))
	return nil
}

// pushFixture pushes a small random OCI linux/amd64 image (two gzip
// layers) to ref.
func pushFixture(ref string) error {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for range 2 {
		l, err := random.Layer(1024, types.OCILayer)
		if err != nil {
			return err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return remote.Write(tag, img)
}

// scriptCmds are the extra script commands:
//
//	waitfor HOST:PORT   wait (up to 20 s) until a registry answers /v2/
//	digest REF VAR      set VAR to the digest REF resolves to, VAR_HEX to
//	                    its hex part (for cosign's sha256-HEX.sig tags)
//	subst FILE VAR...   replace @VAR@ in FILE by the variable's value
//	treecmp DIR1 DIR2   compare two unpacked trees: paths, types, modes,
//	                    file contents and link targets
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"waitfor": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 1 {
				ts.Fatalf("usage: waitfor HOST:PORT")
			}
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				resp, err := http.Get("http://" + args[0] + "/v2/")
				if err == nil {
					resp.Body.Close()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			ts.Fatalf("nothing answered on %s", args[0])
		},
		"treecmp": treecmp,
		"subst": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) < 2 {
				ts.Fatalf("usage: subst FILE VAR...")
			}
			f := ts.MkAbs(args[0])
			b, err := os.ReadFile(f)
			ts.Check(err)
			s := string(b)
			for _, v := range args[1:] {
				s = strings.ReplaceAll(s, "@"+v+"@", ts.Getenv(v))
			}
			ts.Check(os.WriteFile(f, []byte(s), 0o644))
		},
		"digest": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 2 {
				ts.Fatalf("usage: digest REF VAR")
			}
			ref, err := name.ParseReference(args[0])
			ts.Check(err)
			desc, err := remote.Head(ref)
			if neg {
				if err == nil {
					ts.Fatalf("%s resolves to %s", args[0], desc.Digest)
				}
				return
			}
			ts.Check(err)
			ts.Setenv(args[1], desc.Digest.String())
			ts.Setenv(args[1]+"_HEX", desc.Digest.Hex)
		},
	}
}

// scriptTB adapts a testscript environment to testregistry.TB.
type scriptTB struct{ e *testscript.Env }

func (s *scriptTB) Helper()                      {}
func (s *scriptTB) Fatalf(f string, args ...any) { s.e.T().Fatal(fmt.Sprintf(f, args...)) }
func (s *scriptTB) Cleanup(f func())             { s.e.Defer(f) }
func (s *scriptTB) TempDir() string {
	d, err := os.MkdirTemp(s.e.WorkDir, "registry-")
	if err != nil {
		s.Fatalf("%v", err)
	}
	return d
}

// treecmp compares two directory trees.
func treecmp(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: treecmp DIR1 DIR2")
	}
	a, b := walkTree(ts, ts.MkAbs(args[0])), walkTree(ts, ts.MkAbs(args[1]))
	var diffs []string
	for p, x := range a {
		if y, ok := b[p]; !ok {
			diffs = append(diffs, "only in "+args[0]+": "+p)
		} else if x != y {
			diffs = append(diffs, fmt.Sprintf("%s: %s vs %s", p, x, y))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, "only in "+args[1]+": "+p)
		}
	}
	if neg != (len(diffs) > 0) {
		if neg {
			ts.Fatalf("trees are equal")
		}
		slices.Sort(diffs)
		ts.Fatalf("trees differ:\n%s", strings.Join(diffs, "\n"))
	}
}

// walkTree maps each path below root to "mode size sha256|target".
func walkTree(ts *testscript.TestScript, root string) map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			desc += " -> " + t
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[rel] = desc
		return nil
	})
	ts.Check(err)
	return out
}
