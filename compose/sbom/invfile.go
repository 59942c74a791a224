package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/atomicfile"
)

// Inventory files. A Memo with a directory stores each layer's inventory
// in DIR/<algorithm>-<diffID hex>: the line inventoryFormat, the inventory
// as JSON, and a last line "sha256 HEX" over everything before it. A file
// that does not check out in every respect (format, checksum, JSON, its
// diffID, the shape of every entry) is ignored and the layer read again;
// a format change changes inventoryFormat, so old files are simply
// replaced.

// inventoryFormat starts every inventory file.
const inventoryFormat = "strata-sbom-inventory 1\n"

// InventoryFile is the inventory file of the layer with diffID d in the
// directory of a Memo.
func InventoryFile(dir string, d v1.Hash) string { return inventoryPath(dir, d) }

// CheckInventory reports whether data is an inventory file of the layer
// with diffID d, checked as Preload checks it.
func CheckInventory(d v1.Hash, data []byte) error {
	_, err := decodeInventory(d, data)
	return err
}

// Preload makes data, an inventory file of the layer with diffID d (as
// InventoryFile holds it) that came from elsewhere (a registry cache),
// known to m for its life only: it is checked as a file of m's directory
// is, and never stored.
func (m *Memo) Preload(d v1.Hash, data []byte) error {
	inv, err := decodeInventory(d, data)
	if err != nil {
		return err
	}
	m.remember(d, inv)
	return nil
}

// inventoryPath is the file of the layer with diffID d.
func inventoryPath(dir string, d v1.Hash) string {
	return filepath.Join(dir, d.Algorithm+"-"+d.Hex)
}

// invFile is an inventory file's JSON.
type invFile struct {
	DiffID    string  `json:"diffID"`
	Files     bool    `json:"files"`
	MaxBinary int64   `json:"maxBinarySize"`
	Ops       []invOp `json:"ops"`
}

// invOp is one op in an inventory file.
type invOp struct {
	Kind   string    `json:"k"` // r, w, o or f
	Path   string    `json:"p"`
	Size   int64     `json:"size,omitempty"`
	SHA256 string    `json:"sha256,omitempty"`
	SHA1   string    `json:"sha1,omitempty"`
	Go     *GoBinary `json:"go,omitempty"`
	HasDB  bool      `json:"hasDB,omitempty"`
	DB     []byte    `json:"db,omitempty"`
}

var opKinds = map[opKind]string{opReplace: "r", opWhiteout: "w", opOpaque: "o", opFile: "f"}

// encodeInventory renders inv, the inventory of the layer with diffID d,
// as an inventory file.
func encodeInventory(d v1.Hash, inv *layerInv) ([]byte, error) {
	f := invFile{DiffID: d.String(), Files: inv.files, MaxBinary: inv.maxBinary, Ops: make([]invOp, len(inv.ops))}
	for i, o := range inv.ops {
		fo := invOp{Kind: opKinds[o.kind], Path: o.path, HasDB: o.hasDB, DB: o.db}
		if o.kind == opFile && inv.files {
			fo.Size, fo.SHA256, fo.SHA1, fo.Go = o.size, hex.EncodeToString(o.sha256[:]), hex.EncodeToString(o.sha1[:]), o.goBin
		}
		f.Ops[i] = fo
	}
	body, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(inventoryFormat)
	buf.Write(body)
	buf.WriteByte('\n')
	sum := sha256.Sum256(buf.Bytes())
	fmt.Fprintf(&buf, "sha256 %x\n", sum)
	return buf.Bytes(), nil
}

// decodeInventory parses an inventory file of the layer with diffID d.
func decodeInventory(d v1.Hash, b []byte) (*layerInv, error) {
	const trailer = len("sha256 \n") + 2*sha256.Size
	if len(b) < len(inventoryFormat)+trailer || !bytes.HasPrefix(b, []byte(inventoryFormat)) {
		return nil, errors.New("not an inventory file")
	}
	body, tail := b[:len(b)-trailer], b[len(b)-trailer:]
	sum := sha256.Sum256(body)
	if string(tail) != fmt.Sprintf("sha256 %x\n", sum) {
		return nil, errors.New("checksum mismatch")
	}
	var f invFile
	dec := json.NewDecoder(bytes.NewReader(body[len(inventoryFormat):]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	if f.DiffID != d.String() {
		return nil, fmt.Errorf("inventory of %s, not %s", f.DiffID, d)
	}
	inv := &layerInv{files: f.Files, maxBinary: f.MaxBinary, ops: make([]op, len(f.Ops))}
	for i, fo := range f.Ops {
		o := op{path: fo.Path, hasDB: fo.HasDB, db: fo.DB}
		for k, name := range opKinds {
			if name == fo.Kind {
				o.kind = k
			}
		}
		switch {
		case o.kind == 0:
			return nil, fmt.Errorf("entry %d: unknown kind %q", i, fo.Kind)
		case o.hasDB != (o.kind == opFile && isDB(o.path)), !o.hasDB && len(o.db) > 0:
			return nil, fmt.Errorf("entry %d: database content out of place", i)
		}
		if o.kind == opFile && inv.files {
			o.size, o.goBin = fo.Size, fo.Go
			if err := unhex(o.sha256[:], fo.SHA256); err != nil {
				return nil, fmt.Errorf("entry %d: sha256: %w", i, err)
			}
			if err := unhex(o.sha1[:], fo.SHA1); err != nil {
				return nil, fmt.Errorf("entry %d: sha1: %w", i, err)
			}
			if o.size < 0 {
				return nil, fmt.Errorf("entry %d: negative size", i)
			}
		}
		inv.ops[i] = o
	}
	return inv, nil
}

// unhex decodes s into exactly len(dst) bytes.
func unhex(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%d hex digits, want %d", len(s), 2*len(dst))
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

// loadInventory reads the inventory file of d in dir.
func loadInventory(dir string, d v1.Hash) (*layerInv, error) {
	b, err := os.ReadFile(inventoryPath(dir, d))
	if err != nil {
		return nil, err
	}
	return decodeInventory(d, b)
}

// saveInventory stores inv as the inventory file of d in dir, atomically.
func saveInventory(dir string, d v1.Hash, inv *layerInv) error {
	b, err := encodeInventory(d, inv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(inventoryPath(dir, d), 0o644, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, nil)
}
