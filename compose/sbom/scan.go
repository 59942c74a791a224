package sbom

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Inventory is everything an SBOM lists, read from an image's layers.
type Inventory struct {
	// Files are the regular files strata added, sorted by path.
	Files []File
	// Packages are the OS packages of the final image, sorted by type,
	// name, version and architecture.
	Packages []Package
}

// File is one regular file strata added to the image.
type File struct {
	Path   string // path in the image, with a leading "/"
	Size   int64
	SHA256 string // hex
	SHA1   string // hex
	Source string // source path relative to the context ("" if unknown)
	Go     *GoBinary
}

// Package is one OS package installed in the image.
type Package struct {
	Type    string // "deb" or "apk"
	Name    string
	Version string
	Arch    string
	Source  string // source package, when the database names one
	License string // apk only
}

// Scan reads img's layers: the top added ones for the files strata wrote,
// and every layer for the OS package databases (with whiteouts applied, so
// a database a later layer deletes or replaces is not listed). A layer
// whose inventory o.Memo knows (recorded while strata wrote it or while the
// base check read it, or by an earlier Scan) is not read again; any other
// is streamed once.
func Scan(ctx context.Context, img v1.Image, added int, o Options) (*Inventory, error) {
	if o.MaxBinarySize == 0 {
		o.MaxBinarySize = defaultMaxBinarySize
	}
	memo := o.Memo
	if memo == nil {
		memo = o.Bases
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("sbom: reading layers: %w", err)
	}
	if added < 0 || added > len(layers) {
		return nil, fmt.Errorf("sbom: %d added layers, but the image has %d", added, len(layers))
	}
	files := map[string]File{}
	dbs := map[string][]byte{} // package database files by path (no leading "/")
	nbase := len(layers) - added
	for i, l := range layers {
		mine := i >= nbase
		li, err := memo.inventory(ctx, l, mine, o.MaxBinarySize)
		if err != nil {
			d, _ := l.Digest()
			return nil, fmt.Errorf("sbom: reading layer %s: %w", d, err)
		}
		li.apply(files, dbs, mine, o.Sources)
	}
	inv := &Inventory{}
	for _, f := range files {
		inv.Files = append(inv.Files, f)
	}
	sort.Slice(inv.Files, func(i, j int) bool { return inv.Files[i].Path < inv.Files[j].Path })
	inv.Packages, err = osPackages(dbs)
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// defaultMaxBinarySize is Options.MaxBinarySize's default.
const defaultMaxBinarySize = 1 << 30

// maxDBSize is how much of a package database is read; the rest of a
// larger one is ignored.
const maxDBSize = 256 << 20

// prefixBuffer keeps the first max bytes written to it and drops the rest.
type prefixBuffer struct {
	bytes.Buffer
	max int
}

func (b *prefixBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// isDB reports whether p (no leading "/") is a package database file.
func isDB(p string) bool {
	switch {
	case p == dpkgStatus, p == apkInstalled:
		return true
	case strings.HasPrefix(p, dpkgStatusD+"/"):
		rest := strings.TrimPrefix(p, dpkgStatusD+"/")
		return !strings.Contains(rest, "/") && !strings.HasSuffix(rest, ".md5sums")
	}
	return false
}

// isExecutable reports whether magic starts an ELF, Mach-O or PE file.
func isExecutable(magic []byte) bool {
	if len(magic) < 4 {
		return false
	}
	switch {
	case bytes.Equal(magic, []byte("\x7fELF")), bytes.HasPrefix(magic, []byte("MZ")):
		return true
	case bytes.Equal(magic, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.Equal(magic, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.Equal(magic, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.Equal(magic, []byte{0xcf, 0xfa, 0xed, 0xfe}):
		return true
	}
	return false
}
