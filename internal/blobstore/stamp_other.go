//go:build !linux

package blobstore

import "io/fs"

// fileStamp is unavailable here: every Verify reads the blob.
func fileStamp(fs.FileInfo) (string, bool) { return "", false }
