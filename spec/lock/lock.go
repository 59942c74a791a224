// Package lock reads and writes strata lock files: image.lock.json beside
// image.yaml records what a spec was built from (the base reference as
// written, the digest it resolved to and every platform's manifest digest,
// the sha256 of each archive source, the SOURCE_DATE_EPOCH) and what it
// built (each platform's manifest digest and layers, and the image or index
// digest).
//
// The file is indented JSON with a fixed key order, one fact per line and a
// trailing newline, so a change reads well in review and bots can update
// it. Parse is strict: unknown keys, an unknown version or a malformed
// digest are errors that name the file.
//
// The package only knows the format; package compose makes a Lock from a
// build and checks a build against one.
package lock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/atomicfile"
)

// Version is the lock file format this package writes and reads.
const Version = 1

// MaxSize bounds a lock file; anything larger is refused before parsing.
const MaxSize = 1 << 20

// Lock is one spec's lock file.
type Lock struct {
	Version int  `json:"version"`
	Base    Base `json:"base"`
	// Sources maps each archive source (a file with extract: true), by its
	// context-relative path, to the sha256 of its bytes ("sha256:…").
	Sources map[string]string `json:"sources,omitempty"`
	// SourceDateEpoch is the SOURCE_DATE_EPOCH the result was built with.
	SourceDateEpoch int64  `json:"sourceDateEpoch"`
	Result          Result `json:"result"`
}

// Base is the base image as resolved when the lock was made.
type Base struct {
	// Ref is the spec's base as written ("nginx:1.27-alpine", "scratch").
	Ref string `json:"ref"`
	// Digest is what Ref resolved to: an index's digest, or a single
	// image's. Empty for scratch.
	Digest string `json:"digest,omitempty"`
	// Platforms maps each platform built ("linux/amd64") to the base's
	// manifest digest for it.
	Platforms map[string]string `json:"platforms,omitempty"`
}

// Result is what the spec built to.
type Result struct {
	// Digest is the image's manifest digest, or the index's for several
	// platforms.
	Digest string `json:"digest"`
	// Platforms maps each platform to its image.
	Platforms map[string]Platform `json:"platforms"`
}

// Platform is one platform's built image.
type Platform struct {
	Digest string `json:"digest"`
	// Layers are the layers strata added, in image order.
	Layers []Layer `json:"layers,omitempty"`
}

// Layer is one added layer: its name in the spec and its blob digest.
type Layer struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Path returns the lock file of the spec at specPath: the spec's name
// without its extension (and without a trailing ".example") plus
// ".lock.json", beside it; for a CUE package directory, image.lock.json
// inside it.
func Path(specPath string) string {
	if fi, err := os.Stat(specPath); err == nil && fi.IsDir() {
		return filepath.Join(specPath, "image.lock.json")
	}
	p := strings.TrimSuffix(specPath, ".example")
	return strings.TrimSuffix(p, filepath.Ext(p)) + ".lock.json"
}

// Read reads and parses the lock file at path. A missing file gives an
// error that matches os.ErrNotExist.
func Read(path string) (*Lock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading lock file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading lock file %s: %w", path, err)
	}
	return Parse(path, b)
}

// Parse parses a lock file's bytes; filename is used in errors only.
func Parse(filename string, data []byte) (*Lock, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: lock file larger than %d bytes", filename, MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: not a strata lock file: %w", filename, jsonPos(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: not a strata lock file: data after the JSON object", filename)
	}
	if err := l.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	return &l, nil
}

// jsonPos adds the line and column of a syntax or type error.
func jsonPos(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset - 1 // the offset is past the offending byte
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// check validates a decoded lock: the version, the base reference and
// every digest.
func (l *Lock) check() error {
	if l.Version != Version {
		return fmt.Errorf("lock file version %d, this strata reads version %d", l.Version, Version)
	}
	if l.Base.Ref == "" {
		return errors.New("base.ref: missing")
	}
	if l.SourceDateEpoch < 0 {
		return fmt.Errorf("sourceDateEpoch: %d is negative", l.SourceDateEpoch)
	}
	var bad error
	digest := func(field, d string, optional bool) {
		if bad != nil || (optional && d == "") {
			return
		}
		if h, err := v1.NewHash(d); err != nil || h.Algorithm != "sha256" {
			bad = fmt.Errorf("%s: %q is not a sha256 digest", field, d)
		}
	}
	digest("base.digest", l.Base.Digest, true)
	for _, p := range sortedKeys(l.Base.Platforms) {
		digest("base.platforms."+p, l.Base.Platforms[p], false)
	}
	for _, p := range sortedKeys(l.Sources) {
		digest("sources."+p, l.Sources[p], false)
	}
	digest("result.digest", l.Result.Digest, false)
	if len(l.Result.Platforms) == 0 && bad == nil {
		return errors.New("result.platforms: missing")
	}
	for _, p := range sortedKeys(l.Result.Platforms) {
		rp := l.Result.Platforms[p]
		digest("result.platforms."+p+".digest", rp.Digest, false)
		for i, ly := range rp.Layers {
			digest(fmt.Sprintf("result.platforms.%s.layers[%d].digest", p, i), ly.Digest, false)
		}
	}
	return bad
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Marshal returns the file's bytes: indented JSON, keys in a fixed order
// (struct fields as declared, map keys sorted), a trailing newline.
func (l *Lock) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Write writes l to path atomically: a failure leaves the old file as it
// was.
func Write(path string, l *Lock) error {
	if err := l.check(); err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	b, err := l.Marshal()
	if err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	err = atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("writing lock file %s: %w", path, err)
	}
	return nil
}
