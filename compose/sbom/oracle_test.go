package sbom

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/ctxio"
)

// oracleScan is the scanner as it was before layer inventories (commit
// 81343cb, without the base memo): it streams every layer and applies its
// entries as it reads them. The tests hold the inventories to it: whatever
// recorded an inventory, Scan must list what oracleScan lists.
func oracleScan(ctx context.Context, img v1.Image, added int, o Options) (*Inventory, error) {
	if o.MaxBinarySize == 0 {
		o.MaxBinarySize = 1 << 30
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	files := map[string]File{}
	dbs := map[string][]byte{}
	nbase := len(layers) - added
	for i := range layers {
		if err := oracleLayer(ctx, layers[i], i >= nbase, files, dbs, o); err != nil {
			return nil, err
		}
	}
	inv := &Inventory{}
	for _, f := range files {
		inv.Files = append(inv.Files, f)
	}
	sort.Slice(inv.Files, func(i, j int) bool { return inv.Files[i].Path < inv.Files[j].Path })
	inv.Packages, err = osPackages(dbs)
	return inv, err
}

func oracleLayer(ctx context.Context, l v1.Layer, mine bool, files map[string]File, dbs map[string][]byte, o Options) error {
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
			db = &prefixBuffer{max: maxDBSize}
			content = io.TeeReader(tr, db)
		}
		if !mine {
			continue
		}
		f, err := oracleFile(content, "/"+p, h.Size, o)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		files[f.Path] = f
		if db != nil {
			dbs[p] = db.Bytes()
		}
	}
}

func oracleFile(r io.Reader, p string, size int64, o Options) (File, error) {
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
