package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/pgzip"

	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/pinnedgzip"
	"github.com/strata-build/strata/spec"
)

// The benchmark tree is small by default so `go test -bench .` stays short;
// the figures in the README come from
//
//	go test ./compose -run '^$' -bench 'BuildLayer' -benchtime 3x -layerbench.mb 250 -layerbench.files 5000
var (
	benchMB    = flag.Int("layerbench.mb", 32, "size of the generated benchmark tree in MB")
	benchFiles = flag.Int("layerbench.files", 1000, "number of files in the generated benchmark tree")
	benchDir   = flag.String("layerbench.dir", "", "BenchmarkGzipLevel: compress this directory's regular files instead of a generated tree")
)

var benchWords = strings.Fields(`package func return error context layer digest image spec build
	string int64 for range if else switch case struct type interface map slice append copy
	the a of to in is that it with as on be by this from at or an are not which`)

// makeBenchTree writes a mixed tree: half text (compressible, Go-like
// words), half random binary; sizes vary around the mean. It returns the
// total bytes.
func makeBenchTree(b *testing.B, dir string, totalMB, files int) int64 {
	b.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	chacha := rand.NewChaCha8([32]byte{7})
	mean := int64(totalMB) << 20 / int64(files)
	var total int64
	var sb strings.Builder
	for i := 0; i < files; i++ {
		size := mean/2 + r.Int64N(mean+1)
		p := filepath.Join(dir, fmt.Sprintf("d%02d/s%02d/f%05d", i%20, (i/20)%10, i))
		var data []byte
		if i%2 == 0 {
			sb.Reset()
			for int64(sb.Len()) < size {
				sb.WriteString(benchWords[r.IntN(len(benchWords))])
				if r.IntN(12) == 0 {
					sb.WriteByte('\n')
				} else {
					sb.WriteByte(' ')
				}
			}
			data = []byte(sb.String()[:size])
			p += ".go"
		} else {
			data = make([]byte, size)
			chacha.Read(data)
			p += ".bin"
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += size
	}
	return total
}

var benchLayer = spec.Layer{Files: []spec.File{{Src: "**", Dest: "/app/"}}}

func benchEnv(b *testing.B) (*testEnv, int64) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "ctx")
	total := makeBenchTree(b, dir, *benchMB, *benchFiles)
	// A real tree was not written a moment ago: let the racy window pass so
	// rebuilds may use the stat key (see layercache.go).
	time.Sleep(racyWindow + 100*time.Millisecond)
	return openEnv(b, dir), total
}

// resetPeakRSS returns memory freed so far to the OS and resets VmHWM, so
// the peak-RSS metric covers the builds, not the tree generation.
func resetPeakRSS(b *testing.B) {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS: %v", err)
	}
}

// BenchmarkBuildLayer measures a cold build (plan, tar, gzip, store, with
// the inputs hashed on the way) of the mixed tree; every iteration uses an
// empty store.
func BenchmarkBuildLayer(b *testing.B) {
	env, total := benchEnv(b)
	b.SetBytes(total)
	var size int64
	resetPeakRSS(b)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := blobstore.Open(filepath.Join(b.TempDir(), "store"))
		if err != nil {
			b.Fatal(err)
		}
		req := env.request(benchLayer)
		req.Store = store
		b.StartTimer()
		bl, err := Build(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		size, _ = bl.Layer.Size()
		b.StopTimer()
		os.RemoveAll(store.Dir())
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(size)/float64(total), "ratio")
	b.ReportMetric(float64(vmHWM(b))/(1<<20), "peak-RSS-MiB")
}

// BenchmarkBuildLayerStatHit measures a rebuild of an untouched tree: plan
// (walk and lstat every input), then reuse the stored layer by stat key
// without reading any file.
func BenchmarkBuildLayerStatHit(b *testing.B) {
	benchRebuild(b, false)
}

// BenchmarkBuildLayerContentHit measures a rebuild where the stat key
// misses but the content key hits, as for a fresh checkout with a restored
// cache or touched files: plan, hash every input, reuse the stored layer.
// The stat records are removed before each iteration.
func BenchmarkBuildLayerContentHit(b *testing.B) {
	benchRebuild(b, true)
}

func benchRebuild(b *testing.B, dropStat bool) {
	env, total := benchEnv(b)
	req := env.request(benchLayer)
	if _, err := Build(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	blobs := len(env.storeFiles(b))
	b.SetBytes(total)
	var opened atomic.Int64
	req.opened = func(string) { opened.Add(1) }
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if dropStat {
			b.StopTimer()
			stats, _ := filepath.Glob(filepath.Join(env.store.Dir(), "layers", recStat+"-*"))
			for _, f := range stats {
				os.Remove(f)
			}
			b.StartTimer()
		}
		if _, err := Build(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	if n := len(env.storeFiles(b)); n != blobs {
		b.Fatalf("store went from %d to %d files: not a cache hit", blobs, n)
	}
	if (opened.Load() > 0) != dropStat {
		b.Fatalf("rebuilds opened %d files; want a key pass: %t", opened.Load(), dropStat)
	}
}

// cpuTime is the user+system CPU time this process has used, so results
// can be read on a shared machine where wall time depends on the load.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGzipLevel compresses the benchmark tree's tar stream (built in
// memory once) with pgzip at several levels, with the layer's block size and
// blocks in flight, and reports the compressed size ratio: the figures
// behind the choice of pinnedgzip.Level (see gzip.go).
func BenchmarkGzipLevel(b *testing.B) {
	dir := *benchDir
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "ctx")
		makeBenchTree(b, dir, *benchMB, *benchFiles)
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: p[len(dir)+1:], Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	data := tarBuf.Bytes()
	for _, level := range []int{1, 2, 3, 4, 5, 6} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var n int64
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				hw := blobstore.NewHasher()
				gz, err := pgzip.NewWriterLevel(hw, level)
				if err != nil {
					b.Fatal(err)
				}
				if err := gz.SetConcurrency(pinnedgzip.BlockSize, pinnedgzip.Blocks); err != nil {
					b.Fatal(err)
				}
				if _, err := gz.Write(data); err != nil {
					b.Fatal(err)
				}
				if err := gz.Close(); err != nil {
					b.Fatal(err)
				}
				n = hw.Size()
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(n)/float64(len(data)), "ratio")
		})
	}
}
