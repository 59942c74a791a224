package layer

import (
	"os"
	"syscall"
)

// ctimeOf returns the inode change time in ns. The kernel sets it to the
// current time on every change of content or metadata (write, truncate,
// chmod, chown, link, rename, utimes); no system call sets it to a chosen
// value, so it cannot be restored the way mtime can.
func ctimeOf(st *syscall.Stat_t) int64 { return st.Ctim.Nano() }

// Filesystems whose ctime is kept by this kernel's clock (local disks,
// tmpfs, overlayfs over them), identified by statfs(2) f_type. Network and
// FUSE filesystems (NFS, SMB, 9p, virtiofs, …) are left out: their times
// come from another machine's clock or a user-space server, and FAT has no
// change time at all. On those, only the content key is used.
var trustedCtimeFS = map[int64]string{
	0xEF53:     "ext2/3/4",
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x01021994: "tmpfs",
	0x794C7630: "overlayfs",
	0x2FC12FC1: "zfs",
	0xF2F52010: "f2fs",
}

// ctimeTrusted reports whether the context directory root is on a filesystem
// whose ctimes the stat key may rely on (see layercache.go).
func ctimeTrusted(root *os.Root) bool {
	f, err := root.Open(".")
	if err != nil {
		return false
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
		return false
	}
	_, ok := trustedCtimeFS[int64(st.Type)]
	return ok
}
