package oci

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/fixture"
)

// TestOutputCrash kills a process that keeps writing a layout and a tarball
// (SIGKILL, at varying moments) and checks after every kill that each output
// is absent or complete and valid.
func TestOutputCrash(t *testing.T) {
	if dir := os.Getenv("STRATA_TEST_CRASH_DIR"); dir != "" {
		crashWriter(t, dir)
		return
	}
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	tarPath := filepath.Join(dir, "img.tar")
	rng := rand.New(rand.NewSource(1))
	for run := range 10 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOutputCrash$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STRATA_TEST_CRASH_DIR="+dir, fmt.Sprintf("STRATA_TEST_CRASH_SEED=%d", run))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the child is writing, then kill it a little later.
		line, _ := bufio.NewReader(out).ReadString('\n')
		if !strings.HasPrefix(line, "writing") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("run %d: child said %q", run, line)
		}
		time.Sleep(time.Duration(rng.Intn(150)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		if _, err := os.Stat(filepath.Join(layoutDir, "index.json")); err == nil {
			checkLayout(t, layoutDir)
		} else if _, err := os.Stat(layoutDir); err == nil {
			t.Fatalf("run %d: layout directory without index.json", run)
		}
		if _, err := os.Stat(tarPath); err == nil {
			img, err := tarball.ImageFromPath(tarPath, nil)
			if err != nil {
				t.Fatalf("run %d: tarball after kill: %v", run, err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatalf("run %d: tarball after kill: %v", run, err)
			}
		}
	}
	// The runs must have got somewhere: a layout with refs exists. Temporary
	// files left by kills mid-write are allowed (they are never read).
	refs := layoutRefs(t, layoutDir)
	if len(refs) == 0 {
		t.Fatal("no ref written in any run")
	}
	temps, _ := filepath.Glob(filepath.Join(dir, atomicfile.TempPrefix+"*"))
	more, _ := filepath.Glob(filepath.Join(layoutDir, atomicfile.TempPrefix+"*"))
	t.Logf("refs %d; temporary files left by kills: %d", len(refs), len(temps)+len(more))
}

// crashWriter is the child of TestOutputCrash: it writes outputs until killed.
func crashWriter(t *testing.T, dir string) {
	var seed int64
	fmt.Sscan(os.Getenv("STRATA_TEST_CRASH_SEED"), &seed)
	fmt.Println("writing")
	for i := int64(0); i < 2000; i++ { // a safety stop; the parent kills it long before
		img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), seed*1000+i, true)
		if err := writeLayout(context.Background(), filepath.Join(dir, "layout"), Artifact{Image: img}, fmt.Sprintf("r%d", i%3)); err != nil {
			t.Fatal(err)
		}
		tag, _ := name.NewTag("example.com/crash:v1")
		if err := writeTarball(context.Background(), filepath.Join(dir, "img.tar"), Artifact{Image: img}, []name.Tag{tag}); err != nil {
			t.Fatal(err)
		}
	}
}

// What killed writers leave behind is removed by the next writer of the same
// output once it is a day old; fresh temporary files (a live writer's) stay.
func TestOutputStaleTemps(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "layout")
	tarPath := filepath.Join(parent, "img.tar")
	img := fixture.Image(t, fixture.Platform(t, "linux/amd64"), 70, true)
	if err := writeLayout(context.Background(), dir, Artifact{Image: img}, "a"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	mk := func(p string, dir bool, mtime time.Time) string {
		if dir {
			os.MkdirAll(filepath.Join(p, "blobs"), 0o755)
		} else {
			os.WriteFile(p, []byte("partial"), 0o644)
		}
		os.Chtimes(p, mtime, mtime)
		return p
	}
	stale := []string{
		mk(filepath.Join(parent, atomicfile.TempPrefix+"layout-123"), true, old),
		mk(filepath.Join(dir, atomicfile.TempPrefix+"blob-456"), false, old),
		mk(filepath.Join(dir, atomicfile.TempPrefix+"index.json-789"), false, old),
		mk(filepath.Join(parent, atomicfile.TempPrefix+"img.tar-1"), false, old),
	}
	fresh := []string{
		mk(filepath.Join(dir, atomicfile.TempPrefix+"blob-live"), false, time.Now()),
		mk(filepath.Join(parent, atomicfile.TempPrefix+"other-1"), false, old), // another output's
	}
	if err := writeLayout(context.Background(), dir, Artifact{Image: img}, "b"); err != nil {
		t.Fatal(err)
	}
	if err := writeTarball(context.Background(), tarPath, Artifact{Image: img}, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("stale %s not removed", p)
		}
	}
	for _, p := range fresh {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	checkLayout(t, dir)
}
