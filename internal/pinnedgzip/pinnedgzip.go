// Package pinnedgzip is the one gzip compressor strata writes layers with,
// pinned so that a layer's bytes, and so its digest, never change across
// versions of strata or of Go.
//
// It imports nothing of strata's.
package pinnedgzip

import (
	"fmt"
	"io"

	"github.com/klauspost/pgzip"
)

// The layer compressor. Its output is a pure function of the input bytes, the
// pgzip version pinned in go.mod, the level and the block size (not of
// GOMAXPROCS or the number of blocks in flight), so a Go toolchain upgrade
// cannot change a layer digest. Changing any of these constants changes every
// layer digest: bump Format with them so cached layers are not reused.
//
// The level is 1 (BestSpeed, crane's and ggcr's default too). Measured with
// BenchmarkGzipLevel on 2 shared cores, median of 8 runs, CPU-seconds to
// compress and hash the tar, and compressed/uncompressed size:
//
//	tree                           level 1        level 2        level 5
//	Go toolchain (GOROOT, 244 MB)  1.26 s  0.321  1.39 s  0.312  2.07 s  0.286
//	mixed bench tree (250 MB)      1.11 s  0.656  1.26 s  0.651  1.30 s  0.636
//
// Level 5 costs 65% more CPU on real files for an 11% smaller layer, level 2
// 11% more for 3%. Builds run far more often than new layers are pushed (a
// stored or already-pushed layer is never compressed or uploaded again), and
// level 1's layers are the size crane's are, so the speed wins.
const (
	Level     = 1       // pgzip.BestSpeed; see above
	BlockSize = 1 << 20 // bytes per independently compressed block
	Blocks    = 4       // blocks in flight (memory ≈ 2 × blocks × block size); no effect on output
)

// Format names everything that decides layer bytes besides the inputs;
// it is part of the layer cache keys.
const Format = "strata-layer/1 pgzip/v1.3.0 level=1 block=1048576"

// NewWriter returns the pinned compressor writing to w. The gzip header stays
// empty: no name, no comment, mtime 0, OS 255.
func NewWriter(w io.Writer) (*pgzip.Writer, error) {
	gz, err := pgzip.NewWriterLevel(w, Level)
	if err != nil {
		return nil, fmt.Errorf("starting gzip: %w", err)
	}
	if err := gz.SetConcurrency(BlockSize, Blocks); err != nil {
		return nil, fmt.Errorf("starting gzip: %w", err)
	}
	return gz, nil
}
