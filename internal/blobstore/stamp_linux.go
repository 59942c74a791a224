//go:build linux

package blobstore

import (
	"fmt"
	"io/fs"
	"syscall"
)

// fileStamp is what tells a file unchanged: device, inode, size, mtime and
// ctime (which no system call sets to a chosen value).
func fileStamp(fi fs.FileInfo) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	mt, ct := st.Mtim, st.Ctim
	return fmt.Sprintf("%d %d %d %d.%09d %d.%09d\n", st.Dev, st.Ino, st.Size, mt.Sec, mt.Nsec, ct.Sec, ct.Nsec), true
}
