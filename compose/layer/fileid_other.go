//go:build !unix

package layer

import "io/fs"

// statOf records what identifies a source file's version. Without inode
// numbers no hard links are detected.
func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
}

const openNoFollowFlags = 0
