package compose

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-build/strata/spec"
)

// The benchmark tree is small by default so `go test -bench .` stays short;
// the figures in the README come from
//
//	go test ./compose -run '^$' -bench 'BuildLayer' -benchtime 3x -layerbench.mb 250 -layerbench.files 5000
var (
	benchMB    = flag.Int("layerbench.mb", 32, "size of the generated benchmark tree in MB")
	benchFiles = flag.Int("layerbench.files", 1000, "number of files in the generated benchmark tree")
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
	return openEnv(b, dir), total
}

// BenchmarkBuildLayer measures a cold build (plan, hash, tar, gzip, store)
// of the mixed tree; every iteration uses an empty store.
func BenchmarkBuildLayer(b *testing.B) {
	env, total := benchEnv(b)
	b.SetBytes(total)
	var size int64
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := openBlobStore(filepath.Join(b.TempDir(), "store"))
		if err != nil {
			b.Fatal(err)
		}
		req := env.request(benchLayer)
		req.Store = store
		b.StartTimer()
		bl, err := buildLayer(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		size, _ = bl.Layer.Size()
		b.StopTimer()
		os.RemoveAll(store.dir)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(size)/float64(total), "ratio")
	b.ReportMetric(float64(vmHWM(b))/(1<<20), "peak-RSS-MiB")
}

// BenchmarkBuildLayerCacheHit measures a rebuild of unchanged inputs: plan
// and hash every input, then reuse the stored layer.
func BenchmarkBuildLayerCacheHit(b *testing.B) {
	env, total := benchEnv(b)
	req := env.request(benchLayer)
	if _, err := buildLayer(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	blobs := len(env.storeFiles(b))
	b.SetBytes(total)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := buildLayer(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	if n := len(env.storeFiles(b)); n != blobs {
		b.Fatalf("store went from %d to %d files: not a cache hit", blobs, n)
	}
}

// cpuTime is the user+system CPU time this process has used, so results
// can be read on a shared machine where wall time depends on the load.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
