//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// claim takes a shared flock on f, held until the process closes f or
// dies: it tells a live writer's temporary file from a killed one's.
func claim(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
}

// orphaned reports whether the file at p is claimed by no process: its
// writer was killed. A file that cannot be checked is not orphaned.
func orphaned(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}
