//go:build unix

package oci

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on the directory dir itself (no lock file
// is created) and returns the function that releases it. The lock is held by
// the open file description, so it excludes other processes and other
// goroutines of this one alike.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// renameDir renames the directory tmp to dir, replacing dir if it is an empty
// directory (rename(2) allows that; os.Rename refuses any existing
// directory).
func renameDir(tmp, dir string) error {
	if err := syscall.Rename(tmp, dir); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: dir, Err: err}
	}
	return nil
}
