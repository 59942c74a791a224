package oci

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/fixture"
)

// Writers racing on one layout (some creating it) all land.
func TestOutputLayoutConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	const n = 6
	digests := map[string]v1.Hash{}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), int64(30+i), true)
		ref := fmt.Sprintf("r%d", i)
		digests[ref], _ = img.Digest()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = writeLayout(context.Background(), dir, Artifact{Image: img}, ref)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := layoutRefs(t, dir)
	if len(got) != n {
		t.Errorf("refs = %v, want %d", got, n)
	}
	for r, d := range digests {
		if got[r] != d {
			t.Errorf("ref %s = %s, want %s", r, got[r], d)
		}
	}
	checkLayout(t, dir)
	noTemps(t, dir)
}

// Two processes adding to one layout both land (the lock is per open file,
// so it works across processes too).
func TestOutputLayoutTwoProcesses(t *testing.T) {
	if dir := os.Getenv("STRATA_TEST_LAYOUT_DIR"); dir != "" {
		ref := os.Getenv("STRATA_TEST_LAYOUT_REF")
		var seed int64
		fmt.Sscan(strings.TrimPrefix(ref, "p"), &seed)
		for i := range 5 {
			img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 1000*seed+int64(i), true)
			if err := writeLayout(context.Background(), dir, Artifact{Image: img}, fmt.Sprintf("%s-%d", ref, i)); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	dir := filepath.Join(t.TempDir(), "shared")
	var cmds []*exec.Cmd
	for _, ref := range []string{"p1", "p2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOutputLayoutTwoProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STRATA_TEST_LAYOUT_DIR="+dir, "STRATA_TEST_LAYOUT_REF="+ref)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	var refs []string
	for r := range layoutRefs(t, dir) {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	if strings.Join(refs, " ") != "p1-0 p1-1 p1-2 p1-3 p1-4 p2-0 p2-1 p2-2 p2-3 p2-4" {
		t.Errorf("refs = %v", refs)
	}
	checkLayout(t, dir)
}
