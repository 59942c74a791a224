//go:build !unix

package oci

import (
	"errors"
	"os"
)

// lockDir is only implemented on unix systems; elsewhere adding to an
// existing layout is refused rather than risking lost updates.
func lockDir(dir string) (unlock func(), err error) {
	return nil, errors.New("adding to an existing OCI layout needs file locking, which this platform lacks")
}

// renameDir renames the directory tmp to dir.
func renameDir(tmp, dir string) error {
	os.Remove(dir) // only succeeds when dir is empty
	return os.Rename(tmp, dir)
}
