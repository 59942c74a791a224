package layer

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/spec"
)

const (
	bigFileSize  = 1 << 30   // 1 GiB
	bigFileLimit = 150 << 20 // peak RSS allowed while building its layer
)

// TestBuildLayerBigFileRSS builds a layer from a 1 GiB incompressible file in
// a child process (this test binary, re-executed) and checks the child's
// peak RSS (VmHWM) stays under 150 MiB: nothing holds a file or the layer in
// memory.
func TestBuildLayerBigFileRSS(t *testing.T) {
	if os.Getenv("STRATA_TEST_BIGFILE_CHILD") == "1" {
		bigFileChild(t)
		return
	}
	// The 2 GiB of source file and blob go to tmpfs when there is one, so
	// the test measures the build, not the disk (tmpfs pages are page cache,
	// not part of the process's RSS).
	dir := t.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "strata-bigfile-"); err == nil {
			dir = d
			t.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBuildLayerBigFileRSS$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "STRATA_TEST_BIGFILE_CHILD=1", "STRATA_TEST_BIGFILE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var hwm, size int64
	var digest string
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "bigfile:"); i >= 0 {
			if _, err := fmt.Sscanf(line[i:], "bigfile: hwm=%d size=%d digest=%s", &hwm, &size, &digest); err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
		}
	}
	if hwm == 0 {
		t.Fatalf("child printed no result:\n%s", out)
	}
	t.Logf("1 GiB layer: peak RSS %.1f MiB, compressed size %d, digest %s", float64(hwm)/(1<<20), size, digest)
	limit := int64(bigFileLimit)
	if raceEnabled {
		limit += 100 << 20 // the race detector's shadow memory, not the build's
	}
	if int64(hwm) >= limit {
		t.Errorf("peak RSS %d MiB, want < %d MiB", hwm>>20, limit>>20)
	}
	if size < bigFileSize {
		t.Errorf("compressed size %d of random data is below %d: content missing?", size, bigFileSize)
	}
}

func bigFileChild(t *testing.T) {
	base := os.Getenv("STRATA_TEST_BIGFILE_DIR")
	ctxDir := filepath.Join(base, "ctx")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(ctxDir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	buf := make([]byte, 1<<20)
	for n := 0; n < bigFileSize; n += len(buf) {
		r.Read(buf)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	buf = nil
	root, err := os.OpenRoot(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	store, err := blobstore.Open(filepath.Join(base, "store"))
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{dir: ctxDir, root: root, store: store}
	bl, err := Build(context.Background(), env.request(spec.Layer{Files: []spec.File{{Src: "big.bin", Dest: "/data/"}}}))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := bl.Layer.Digest()
	size, _ := bl.Layer.Size()
	fmt.Printf("bigfile: hwm=%d size=%d digest=%s\n", vmHWM(t), size, d)
}

// vmHWM returns this process's peak resident set size in bytes.
func vmHWM(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
