package layer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/strata-build/strata/spec"
)

// archiveSource is a files[] entry with extract: true.
type archiveSource struct {
	field    string // spec field path of the files[] entry
	destT    string // dest in layer form
	uid, gid int
	pin      string // expected sha256 (lower-case hex), or ""
	content  *contentRef
}

// addArchive plans the extraction of the context file name under destT.
func (p *planner) addArchive(field string, f spec.File, name, destT string) error {
	fi, err := p.req.Root.Lstat(name)
	if err != nil {
		return fmt.Errorf("file %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("file %s: extract needs a regular file (a .tar, .tar.gz or .tar.zst archive), not a %s", name, kindOfMode(fi.Mode()))
	}
	if err := checkName("file", name); err != nil {
		return err
	}
	a := &archiveSource{field: field, destT: destT, content: &contentRef{path: name, stat: statOf(fi)}}
	a.uid, a.gid, _ = spec.ParseOwner(f.Owner) // checked by addFiles
	if f.Sha256 != "" {
		pin := strings.ToLower(strings.TrimPrefix(f.Sha256, "sha256:"))
		if b, err := hex.DecodeString(pin); err != nil || len(b) != sha256.Size {
			return p.specErr(field+".sha256", "%q is not a sha256 digest; want 64 hex digits", f.Sha256)
		}
		a.pin = pin
	}
	p.archives = append(p.archives, a)
	return nil
}

// checkPins compares each pinned archive's content hash (hashed before
// anything is extracted) with its sha256 pin.
func (p *planner) checkPins() error {
	for _, a := range p.archives {
		if got := hex.EncodeToString(a.content.sum[:]); a.pin != "" && got != a.pin {
			return p.specErr(a.field+".sha256", "%s has sha256 %s, want %s", a.content.path, got, a.pin)
		}
	}
	for _, e := range p.entries {
		if c := e.content; c != nil && c.pin != "" {
			if got := hex.EncodeToString(c.sum[:]); got != c.pin {
				return p.specErr(c.pinField, "%s has sha256 %s, want %s", c.path, got, c.pin)
			}
		}
	}
	return nil
}

// kindOfMode names a file type for messages.
func kindOfMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "regular file"
	}
	return specialKind(m)
}

// expandArchive reads the archive once through the os.Root: the raw bytes
// are hashed (and must equal the key pass's hash when there was one, so a
// pin checked before still holds), decompressed by magic number (gzip, zstd or none), and each
// member becomes an entry under the archive's dest. Member contents are
// copied to the spool file so entries can be written in layer order.
//
// Member names are checked: absolute names, ".." segments, names below a
// symlink member, names starting with .wh., invalid UTF-8 and control
// characters are errors, as are devices and fifos. Modes (including special
// bits), symlink targets and hard links are kept; owners become the files[]
// entry's owner (default 0:0) and mtimes the layer's.
func (p *planner) expandArchive(ctx context.Context, ai int, a *archiveSource) error {
	name := a.content.path
	f, st, err := openSource(p.req.Root, a.content)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	raw := &countingReader{r: io.TeeReader(io.LimitReader(f, st.size), h)}
	br := bufio.NewReaderSize(raw, 1<<16)
	r, closeDec, err := decompress(br)
	if err != nil {
		return fmt.Errorf("file %s: %w", name, err)
	}
	defer closeDec()

	spool, err := p.spoolFile()
	if err != nil {
		return err
	}
	members := map[string]*layerEntry{}
	var order []string
	links := map[string]string{} // hard link name → linked name
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("file %s: reading archive: %w", name, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		mname, err := memberName(hdr.Name)
		if err != nil {
			return fmt.Errorf("file %s: entry %q: %w", name, hdr.Name, err)
		}
		src := name + "!" + mname
		e := &layerEntry{mode: hdr.Mode & 0o7777, uid: a.uid, gid: a.gid, source: src, origin: a.field}
		switch hdr.Typeflag {
		case tar.TypeReg, '\x00', tar.TypeGNUSparse:
			off, err := spool.Seek(0, io.SeekEnd)
			if err != nil {
				return fmt.Errorf("spooling %s: %w", src, err)
			}
			n, err := io.Copy(spool, tr)
			if err != nil {
				return fmt.Errorf("file %s: entry %q: %w", name, hdr.Name, err)
			}
			e.kind, e.size = kindFile, n
			e.content = &contentRef{path: src, spool: spool, off: off, stat: fileStat{size: n}}
		case tar.TypeDir:
			e.kind = kindDir
			// Directories with the default mode are treated like source
			// directories (kept from the base when not empty here).
			e.onlyIfEmpty = e.mode == 0o755
		case tar.TypeSymlink:
			if hdr.Linkname == "" {
				return fmt.Errorf("file %s: entry %q: symlink has an empty target", name, hdr.Name)
			}
			if err := checkName("symlink target", hdr.Linkname); err != nil {
				return fmt.Errorf("file %s: entry %q: %w", name, hdr.Name, err)
			}
			e.kind, e.link, e.mode = kindSymlink, hdr.Linkname, 0o777
		case tar.TypeLink:
			to, err := memberName(hdr.Linkname)
			if err != nil || to == "" {
				return fmt.Errorf("file %s: entry %q: hard link target %q: escapes the archive or is invalid", name, hdr.Name, hdr.Linkname)
			}
			links[mname] = to
			e.kind = kindHardlink
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return fmt.Errorf("file %s: entry %q is a device or fifo; archives may hold only files, directories and links", name, hdr.Name)
		default:
			return fmt.Errorf("file %s: entry %q has unsupported tar type %q", name, hdr.Name, hdr.Typeflag)
		}
		if mname == "" {
			if e.kind != kindDir {
				return fmt.Errorf("file %s: entry %q: only a directory can stand for dest itself", name, hdr.Name)
			}
			continue // "./": dest itself is not an entry
		}
		if old, ok := members[mname]; ok {
			if old.kind != kindDir || e.kind != kindDir {
				return fmt.Errorf("file %s: entry %q appears twice in the archive", name, hdr.Name)
			}
		} else {
			order = append(order, mname)
		}
		members[mname] = e
	}
	// Read to the end (gzip or zstd trailer, tar padding) so every byte is hashed.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("file %s: %w", name, err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("file %s: %w", name, err)
	}
	if raw.n != st.size || (a.content.hasSum && !bytes.Equal(h.Sum(nil), a.content.sum[:])) {
		return fmt.Errorf("file %s: %w (archive bytes differ from the first read)", name, errChanged)
	}
	if !a.content.hasSum {
		h.Sum(a.content.sum[:0])
		a.content.hasSum = true
	}

	for _, m := range order {
		e := members[m]
		for d := path.Dir(m); d != "."; d = path.Dir(d) {
			if x := members[d]; x != nil && x.kind != kindDir {
				return fmt.Errorf("file %s: entry %q is below %q, a %s in the archive; entries cannot escape dest through a link", name, m, d, x.kind)
			}
		}
		if e.kind == kindHardlink {
			to := links[m]
			for i := 0; i < 64 && links[to] != ""; i++ {
				to = links[to]
			}
			t := members[to]
			if t == nil || t.kind != kindFile {
				return fmt.Errorf("file %s: hard link %q points to %q, which is not a regular file in the archive", name, m, links[m])
			}
			if t.group == "" {
				t.group = fmt.Sprintf("a%d:%s", ai, to)
			}
			e.kind, e.size, e.content, e.group = kindFile, t.size, t.content, t.group
		}
		target := path.Join(a.destT, m)
		t, err := spec.NormalizeTarget("/" + target)
		if err != nil {
			return fmt.Errorf("file %s: entry %q: %w", name, m, err)
		}
		e.target = t
		p.entries = append(p.entries, e)
	}
	return nil
}

// memberName checks an archive member name and returns it relative to
// dest, cleaned; "" stands for dest itself ("." or "./").
func memberName(n string) (string, error) {
	if strings.HasPrefix(n, "/") {
		return "", errors.New("absolute names are not allowed in an extracted archive")
	}
	if err := checkName("name", n); err != nil {
		return "", err
	}
	if strings.ContainsRune(n, '\\') {
		return "", errors.New("backslashes are not allowed in names")
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == ".." {
			return "", errors.New("a \"..\" segment would escape dest")
		}
	}
	c := path.Clean(n)
	if c == "." {
		return "", nil
	}
	if hasWhiteoutName(c) {
		return "", fmt.Errorf("names starting with %s are reserved for whiteouts", WhiteoutPrefix)
	}
	return c, nil
}

// decompress picks the decompressor by magic number.
func decompress(br *bufio.Reader) (io.Reader, func(), error) {
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := pgzip.NewReaderN(br, 1<<20, 2)
		if err != nil {
			return nil, nil, fmt.Errorf("reading gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("reading zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// countingReader counts bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
