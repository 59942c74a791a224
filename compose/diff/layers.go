package diff

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Whiteout names (image-spec layer.md).
const (
	whiteoutPrefix = ".wh."
	opaqueName     = ".wh..wh..opq"
)

// entry is what a layer says about one path. Content is hashed while the
// tar streams by; only these few strings are kept per entry.
type entry struct {
	typ   string // file, dir, symlink, hardlink, char, block, fifo, whiteout, opaque
	mode  string
	owner string
	link  string
	size  int64
	sum   string // sha256:… of a file's bytes
	mtime int64
}

// Layers compares two layers: their digests and, when their contents
// differ, every entry. x or y may be nil for a layer only one side has.
// The result's Index and Name are left empty.
func Layers(ctx context.Context, x, y v1.Layer) (*Layer, error) {
	return compareLayer(ctx, x, y)
}

// compareLayer compares two layers at one position; x or y is nil when
// only one image has a layer there.
func compareLayer(ctx context.Context, x, y v1.Layer) (*Layer, error) {
	l := &Layer{}
	var ix, iy v1.Hash
	if x != nil {
		d, id, err := layerDigests(x)
		if err != nil {
			return nil, fmt.Errorf("reading digests of A's layer: %w", err)
		}
		l.A, ix = d.String(), id
	}
	if y != nil {
		d, id, err := layerDigests(y)
		if err != nil {
			return nil, fmt.Errorf("reading digests of B's layer: %w", err)
		}
		l.B, iy = d.String(), id
	}
	switch {
	case x == nil:
		l.Status = LayerAdded
	case y == nil:
		l.Status = LayerRemoved
	case l.A == l.B:
		l.Status = LayerSame
		return l, nil
	case ix == iy:
		l.Status = LayerRecompressed
		return l, nil
	default:
		l.Status = LayerChanged
	}
	var ea, eb map[string]entry
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2) // one reader per side
	if x != nil {
		g.Go(func() (err error) {
			ea, err = readEntries(gctx, x)
			if err != nil {
				err = fmt.Errorf("reading A's layer %s: %w", l.A, err)
			}
			return err
		})
	}
	if y != nil {
		g.Go(func() (err error) {
			eb, err = readEntries(gctx, y)
			if err != nil {
				err = fmt.Errorf("reading B's layer %s: %w", l.B, err)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	l.Changes = compareEntries(ea, eb)
	return l, nil
}

// readEntries streams a layer's uncompressed tar and returns its entries by
// path ("/usr/bin/x"). Whiteouts are keyed by the path they delete, opaque
// markers by their own path.
func readEntries(ctx context.Context, l v1.Layer) (map[string]entry, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	h := sha256.New()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		p := path.Clean("/" + hdr.Name)
		dir, base := path.Split(p)
		e := entry{
			mode:  fmt.Sprintf("%04o", hdr.Mode&0o7777),
			owner: strconv.Itoa(hdr.Uid) + ":" + strconv.Itoa(hdr.Gid),
			mtime: hdr.ModTime.Unix(),
		}
		switch {
		case base == opaqueName:
			out[p] = entry{typ: "opaque"}
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			out[path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))] = entry{typ: "whiteout"}
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			e.typ, e.size = "file", hdr.Size
			h.Reset()
			if _, err := io.Copy(h, tr); err != nil {
				return nil, fmt.Errorf("reading %s: %w", p, err)
			}
			e.sum = "sha256:" + hex.EncodeToString(h.Sum(nil))
		case tar.TypeDir:
			e.typ = "dir"
		case tar.TypeSymlink:
			e.typ, e.link = "symlink", hdr.Linkname
		case tar.TypeLink:
			e.typ, e.link = "hardlink", path.Clean("/"+hdr.Linkname)
		case tar.TypeChar:
			e.typ = "char"
		case tar.TypeBlock:
			e.typ = "block"
		case tar.TypeFifo:
			e.typ = "fifo"
		default:
			e.typ = "type " + strconv.Quote(string(hdr.Typeflag))
		}
		out[p] = e
	}
}

// compareEntries lists, sorted by path, the paths whose entries differ.
// ea or eb is nil for a layer only one image has.
func compareEntries(ea, eb map[string]entry) []Change {
	paths := make([]string, 0, len(ea)+len(eb))
	for p := range ea {
		paths = append(paths, p)
	}
	for p := range eb {
		if _, ok := ea[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []Change
	for _, p := range paths {
		x, inA := ea[p]
		y, inB := eb[p]
		display := p
		if x.typ == "opaque" || y.typ == "opaque" {
			display = path.Dir(p)
		}
		switch {
		case inA && inB:
			if x.typ == "whiteout" || y.typ == "whiteout" || x.typ == "opaque" || y.typ == "opaque" {
				if x.typ == y.typ {
					continue
				}
				// A whiteout on one side, an entry on the other.
			}
			if f := fieldChanges(x, y); len(f) > 0 {
				out = append(out, Change{Path: display, Kind: Changed, Fields: f})
			}
		case inB:
			out = append(out, Change{Path: display, Kind: onlyKind(y.typ, Added, Deleted, Cleared)})
		default:
			out = append(out, Change{Path: display, Kind: onlyKind(x.typ, Removed, Undeleted, Uncleared)})
		}
	}
	return out
}

// onlyKind names a path present on one side only: plain, whiteout or opaque.
func onlyKind(typ, plain, whiteout, opaque string) string {
	switch typ {
	case "whiteout":
		return whiteout
	case "opaque":
		return opaque
	}
	return plain
}

// fieldChanges lists the attributes of x and y that differ.
func fieldChanges(x, y entry) []FieldChange {
	var out []FieldChange
	add := func(f, a, b string) {
		if a != b {
			out = append(out, FieldChange{Field: f, A: a, B: b})
		}
	}
	add("type", x.typ, y.typ)
	add("content", x.sum, y.sum)
	if x.sum != "" && y.sum != "" {
		add("size", strconv.FormatInt(x.size, 10), strconv.FormatInt(y.size, 10))
	}
	add("mode", x.mode, y.mode)
	add("owner", x.owner, y.owner)
	add("link", x.link, y.link)
	add("mtime", strconv.FormatInt(x.mtime, 10), strconv.FormatInt(y.mtime, 10))
	return out
}
