//go:build unix

package store

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockPath is the in-use lock of dir: a hidden file beside it, so that it
// is neither part of an OCI layout nor removed with the directory.
func lockPath(dir string) string {
	dir = filepath.Clean(dir)
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".inuse")
}

// Use marks dir (the store or the cache) as in use by this process until
// release is called or the process exits: it takes a shared flock on a
// lock file beside dir (created with its parent directories if needed;
// dir itself is not created), waiting while Prune holds it. Any number of
// processes may use a directory at once.
func Use(dir string) (release func(), err error) {
	return flock(dir, syscall.LOCK_SH)
}

// lockExclusive takes dir's in-use lock exclusively without waiting; when
// another process uses dir, the error matches ErrInUse.
func lockExclusive(dir string) (release func(), err error) {
	return flock(dir, syscall.LOCK_EX|syscall.LOCK_NB)
}

// flock opens dir's lock file and flocks it with how.
func flock(dir string, how int) (func(), error) {
	p := lockPath(dir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EWOULDBLOCK {
		f.Close()
		return nil, inUseError{dir}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
