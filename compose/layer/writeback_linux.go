package layer

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing the byte range [off,
// off+n) of f to disk without waiting for it (sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE), so the fsync that commits a blob has little left
// to flush. It is a hint: errors are ignored and durability still comes
// from that fsync.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
