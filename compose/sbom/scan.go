package sbom

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha1" // SPDX 2.3 requires a SHA1 checksum for every file
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"path"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/ctxio"
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
// a database a later layer deletes or replaces is not listed). Each layer
// is streamed once.
func Scan(ctx context.Context, img v1.Image, added int, o Options) (*Inventory, error) {
	if o.MaxBinarySize == 0 {
		o.MaxBinarySize = 1 << 30
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
	first := 0
	key, err := stackKey(layers[:nbase])
	if err != nil {
		return nil, err
	}
	if known, ok := o.Bases.get(key); ok {
		maps.Copy(dbs, known)
		first = nbase
	}
	for i := first; i < len(layers); i++ {
		if i == nbase && first == 0 {
			o.Bases.put(key, dbs)
		}
		if err := scanLayer(ctx, layers[i], i >= nbase, files, dbs, o); err != nil {
			d, _ := layers[i].Digest()
			return nil, fmt.Errorf("sbom: reading layer %s: %w", d, err)
		}
	}
	if nbase == len(layers) && first == 0 {
		o.Bases.put(key, dbs)
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

func scanLayer(ctx context.Context, l v1.Layer, mine bool, files map[string]File, dbs map[string][]byte, o Options) error {
	rc, err := ctxio.Uncompressed(ctx, l)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		dir, base := path.Split(p)
		// Whiteouts remove what lower layers had.
		if base == ".wh..wh..opq" {
			removeUnder(files, dbs, strings.TrimSuffix(dir, "/"))
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			gone := dir + strings.TrimPrefix(base, ".wh.")
			removeUnder(files, dbs, gone)
			delete(files, "/"+gone)
			delete(dbs, gone)
			continue
		}
		// Any entry replaces what lower layers had at its path.
		delete(files, "/"+p)
		delete(dbs, p)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		var db *prefixBuffer
		var content io.Reader = tr
		if isDB(p) {
			if !mine {
				b, err := io.ReadAll(io.LimitReader(tr, maxDBSize))
				if err != nil {
					return err
				}
				dbs[p] = b
				continue
			}
			// A database strata adds is also one of its files: it is
			// hashed whole while its start is kept.
			db = &prefixBuffer{max: maxDBSize}
			content = io.TeeReader(tr, db)
		}
		if !mine {
			continue
		}
		f, err := scanFile(content, "/"+p, h.Size, o)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		files[f.Path] = f
		if db != nil {
			dbs[p] = db.Bytes()
		}
	}
}

// removeUnder drops every file and database below dir ("" is the root).
func removeUnder(files map[string]File, dbs map[string][]byte, dir string) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for p := range files {
		if strings.HasPrefix(p, "/"+prefix) {
			delete(files, p)
		}
	}
	for p := range dbs {
		if strings.HasPrefix(p, prefix) {
			delete(dbs, p)
		}
	}
}

// scanFile hashes one file's content and, if it looks like an executable,
// reads its Go build information.
func scanFile(r io.Reader, p string, size int64, o Options) (File, error) {
	f := File{Path: p, Size: size, Source: o.Sources[p]}
	s256, s1 := sha256.New(), sha1.New()
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	var body io.Reader = br
	var buf *bytes.Buffer
	if isExecutable(magic) && size <= o.MaxBinarySize {
		buf = bytes.NewBuffer(make([]byte, 0, size))
		body = io.TeeReader(br, buf)
	}
	if _, err := io.Copy(io.MultiWriter(s256, s1), body); err != nil {
		return f, err
	}
	f.SHA256, f.SHA1 = hex.EncodeToString(s256.Sum(nil)), hex.EncodeToString(s1.Sum(nil))
	if buf != nil {
		f.Go = readGoBinary(buf.Bytes())
	}
	return f, nil
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

// BaseMemo remembers, per stack of base layers (by their diffIDs), the
// package databases the stack leaves. The zero value is ready; it is safe
// for concurrent use. Base layers are only read for their databases (the
// files strata added are in the layers above them), so a stack's result
// does not depend on what is built on it.
type BaseMemo struct {
	mu sync.Mutex
	m  map[string]map[string][]byte
}

// stackKey names a stack of base layers by their diffIDs.
func stackKey(layers []v1.Layer) (string, error) {
	var b strings.Builder
	for _, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return "", fmt.Errorf("sbom: base layer diffID: %w", err)
		}
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String(), nil
}

func (m *BaseMemo) get(key string) (map[string][]byte, bool) {
	if m == nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dbs, ok := m.m[key]
	return dbs, ok
}

// put records a copy of dbs for key (the caller goes on changing dbs).
func (m *BaseMemo) put(key string, dbs map[string][]byte) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]map[string][]byte{}
	}
	m.m[key] = maps.Clone(dbs)
}
