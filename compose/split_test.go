package compose

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-build/strata/spec"
)

// TestSplitUmociSameTree builds the e2e spec (deletes, clears, owners,
// archives, symlinks, hard links) with 6 MiB more of site files, once as
// written and once with split: auto on every layer, and unpacks both with
// umoci: the two trees must be the same, path for path (type, mode, owner,
// content, link target, hard-link identity), and the split image must have
// more layers.
func TestSplitUmociSameTree(t *testing.T) {
	specPath := makeE2E(t)
	src := rand.NewChaCha8([32]byte{9})
	for i := range 24 {
		b := make([]byte, 256<<10)
		src.Read(b)
		p := filepath.Join(filepath.Dir(specPath), "public", "big", fmt.Sprintf("f%02d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unpack := func(split bool) (map[string]string, int) {
		s, err := spec.Load(specPath, spec.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if split {
			for i := range s.Layers {
				s.Layers[i].Split = "auto"
			}
		}
		res, err := Build(context.Background(), s, t.TempDir(), WithBaseResolver(resolverFor(e2eBaseRef, nginxLikeBase(t, amd64), nil)))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "oci")
		if err := WriteOutputs(context.Background(), res, Outputs{LayoutDir: dir, LayoutRefs: []string{"x"}}); err != nil {
			t.Fatal(err)
		}
		bundle := filepath.Join(t.TempDir(), "bundle")
		args := []string{"unpack"}
		if os.Getuid() != 0 {
			args = append(args, "--rootless")
		}
		run(t, "umoci", append(args, "--image", dir+":x", bundle)...)
		return treeOf(t, filepath.Join(bundle, "rootfs")), len(res.Platforms[0].Layers)
	}
	whole, n1 := unpack(false)
	split, n2 := unpack(true)
	if n2 <= n1+1 {
		t.Errorf("split image adds %d layers, unsplit %d: want more parts", n2, n1)
	}
	if len(whole) < 20 {
		t.Fatalf("unsplit tree has %d paths", len(whole))
	}
	var diffs []string
	for p, w := range whole {
		if g, ok := split[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing (want %s)", p, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: %s, want %s", p, g, w))
		}
	}
	for p, g := range split {
		if _, ok := whole[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: extra %s", p, g))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Errorf("split and unsplit trees differ:\n%s", strings.Join(diffs, "\n"))
	}
}

// treeOf describes every path under root: type, mode, owner, content hash
// or link target, and for hard-linked files the first path of its inode.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					desc += " link " + first
				} else {
					inodes[st.Ino] = rel
				}
			}
		}
		out[rel] = desc
	}
	return out
}
