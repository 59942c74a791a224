//go:build !unix

package store

import "errors"

// Use is a no-op where file locks are not implemented; Prune refuses to
// run there instead.
func Use(dir string) (release func(), err error) { return func() {}, nil }

// lockExclusive is not implemented on this platform.
func lockExclusive(dir string) (release func(), err error) {
	return nil, errors.New("prune needs file locking, which this platform lacks")
}
