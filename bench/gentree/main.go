// Command gentree writes the benchmark input tree for bench/compare.sh: a
// deterministic mix of text and binary files (5,000 files, about 250 MB by
// default) under DIR.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

var words = []string{
	"package", "func", "return", "strata", "layer", "image", "config", "error",
	"context", "digest", "manifest", "registry", "spec", "build", "the", "and",
	"for", "with", "from", "into", "blob", "tar", "gzip", "platform", "index",
}

func main() {
	files := flag.Int("files", 5000, "number of files")
	total := flag.Int64("bytes", 250<<20, "approximate total size in bytes")
	seed := flag.Uint64("seed", 1, "PRNG seed")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gentree [-files N] [-bytes N] DIR")
		os.Exit(2)
	}
	if err := gen(flag.Arg(0), *files, *total, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
}

// gen writes n files: even ones text (30 % of the bytes), odd ones random
// binary (70 %), spread over 50 directories two levels deep.
func gen(dir string, n int, total int64, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	textSize := total * 3 / 10 / int64((n+1)/2)
	binSize := total * 7 / 10 / int64(n/2)
	buf := make([]byte, 1<<16)
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%10), fmt.Sprintf("s%d", i%5))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		var name string
		var size int64
		if i%2 == 0 {
			name, size = fmt.Sprintf("file%05d.txt", i), textSize/2+rng.Int64N(textSize)
		} else {
			name, size = fmt.Sprintf("blob%05d.bin", i), binSize/2+rng.Int64N(binSize)
		}
		f, err := os.Create(filepath.Join(sub, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<16)
		for written := int64(0); written < size; {
			var chunk []byte
			if i%2 == 0 {
				chunk = buf[:0]
				for len(chunk) < 4096 {
					chunk = append(chunk, words[rng.IntN(len(words))]...)
					if rng.IntN(10) == 0 {
						chunk = append(chunk, '\n')
					} else {
						chunk = append(chunk, ' ')
					}
				}
			} else {
				chunk = buf[:min(int64(len(buf)), size-written)]
				for j := 0; j+8 <= len(chunk); j += 8 {
					v := rng.Uint64()
					for k := range 8 {
						chunk[j+k] = byte(v >> (8 * k))
					}
				}
			}
			if rem := size - written; int64(len(chunk)) > rem {
				chunk = chunk[:rem]
			}
			if _, err := w.Write(chunk); err != nil {
				f.Close()
				return err
			}
			written += int64(len(chunk))
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
