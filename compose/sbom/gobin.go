package sbom

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"io"
	"sort"
)

// GoBinary is what a Go binary says about how it was built.
type GoBinary struct {
	GoVersion string // e.g. go1.26.8
	Path      string // the main package's import path
	Main      Module
	Deps      []Module // sorted by path
}

// Module is one Go module, as debug/buildinfo reports it.
type Module struct {
	Path    string
	Version string
	Sum     string // the go.sum hash, "h1:…"
	Replace *Module
}

// readGoBinary returns the build information of a Go binary, or nil for any
// other file. Nothing is run: debug/buildinfo reads the file's sections.
func readGoBinary(b []byte) *GoBinary { return readGoBinaryAt(bytes.NewReader(b)) }

// readGoBinaryAt is readGoBinary for content read at offsets (a file).
func readGoBinaryAt(r io.ReaderAt) *GoBinary {
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil
	}
	g := &GoBinary{GoVersion: bi.GoVersion, Path: bi.Path, Main: module(&bi.Main)}
	for _, d := range bi.Deps {
		g.Deps = append(g.Deps, module(d))
	}
	sort.Slice(g.Deps, func(i, j int) bool { return g.Deps[i].Path < g.Deps[j].Path })
	return g
}

func module(m *debugModule) Module {
	out := Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
	if m.Replace != nil {
		r := module(m.Replace)
		out.Replace = &r
	}
	return out
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
