//go:build !unix

package atomicfile

import "os"

// claim does nothing here: only the age rule of RemoveStale applies.
func claim(*os.File) {}

// orphaned cannot tell here.
func orphaned(string) bool { return false }
