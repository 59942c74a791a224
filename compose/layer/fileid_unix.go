//go:build unix

package layer

import (
	"io/fs"
	"syscall"
)

// statOf records what identifies a source file's version: size, mtime,
// ctime (where the platform reports it), owner, and device, inode and link
// count for hard-link detection.
func statOf(fi fs.FileInfo) fileStat {
	s := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino, s.nlink = uint64(st.Dev), uint64(st.Ino), uint64(st.Nlink)
		s.uid, s.gid = st.Uid, st.Gid
		s.ctime = ctimeOf(st)
	}
	return s
}

// openNoFollowFlags are added when opening a source: O_NONBLOCK so a fifo
// swapped in after the lstat cannot block the build. os.Root still follows
// symlinks that stay inside the root, so openSource also checks the opened
// file is the inode that was planned.
const openNoFollowFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
