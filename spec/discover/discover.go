// Package discover finds the specs of a monorepo and shares them out among
// CI machines.
//
// # Discovery
//
// Specs walks a directory, as Go's ./... pattern does, and returns every
// spec below it in a stable order (byte order of the slash-separated path).
// A directory holds at most one spec, chosen as the CLI chooses one with no
// argument: image.yaml, else image.yml, else image.cue, else the directory
// itself when it is a CUE package spec (see IsCUEPackageSpec). The walk skips
// .git, node_modules, vendor and cue.mod directories, symbolic links (never
// followed), and every path that the .strataignore at the walk root
// excludes.
//
// # Sharding
//
// Shard picks the share of shard i of n: the specs are sorted by weight
// (Weight: the bytes of the spec's input files), heaviest first, and each
// goes to the shard with the fewest bytes so far. Every machine given the
// same checkout computes the same assignment, and the n shards together
// hold every spec exactly once.
package discover

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// specFiles returns the spec file names a directory may hold, in the order
// of preference: the first one present is the directory's spec.
func specFiles() []string { return []string{"image.yaml", "image.yml", "image.cue"} }

// skipDir reports whether the walk never enters a directory of this name.
func skipDir(name string) bool {
	switch name {
	case ".git", "node_modules", "vendor", "cue.mod":
		return true
	}
	return false
}

// IgnoreFile is the ignore file read at the walk root (.dockerignore
// syntax, as for a build context).
const IgnoreFile = ".strataignore"

// maxIgnoreSize bounds the ignore file Specs reads.
const maxIgnoreSize = 1 << 20

// Specs returns the spec paths below root: each is root joined with the
// path of a spec file, or of a CUE package directory, relative to root.
// An unreadable directory or ignore file is an error; finding no spec is
// not (the caller decides what that means).
func Specs(root string) ([]string, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("discovering specs: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("discovering specs: %s is not a directory", root)
	}
	pm, err := readIgnore(root)
	if err != nil {
		return nil, err
	}
	var found []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("discovering specs: %w", err)
		}
		if !d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." {
			if skipDir(d.Name()) {
				return filepath.SkipDir
			}
			if pm != nil {
				if ok, _ := pm.MatchesOrParentMatches(rel); ok {
					return filepath.SkipDir
				}
			}
		}
		spec, err := dirSpec(p, rel, pm)
		if err != nil {
			return err
		}
		if spec != "" {
			found = append(found, spec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(found, func(i, j int) bool { return filepath.ToSlash(found[i]) < filepath.ToSlash(found[j]) })
	return found, nil
}

// dirSpec returns the spec of directory dir (rel from the walk root), or "".
func dirSpec(dir, rel string, pm *patternmatcher.PatternMatcher) (string, error) {
	ignored := func(name string) bool {
		if pm == nil {
			return false
		}
		ok, _ := pm.MatchesOrParentMatches(path.Join(rel, name))
		return ok
	}
	for _, name := range specFiles() {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err == nil && fi.Mode().IsRegular() && !ignored(name) {
			return filepath.Join(dir, name), nil
		}
	}
	ok, err := IsCUEPackageSpec(dir)
	if err != nil || !ok {
		return "", err
	}
	return dir, nil
}

// IsCUEPackageSpec reports whether dir is a CUE package spec: it holds .cue
// files and at least one of them declares, at the top level, a regular
// field or an embedded value (a line that starts in the first column with
// something other than a comment, a package or import clause, a
// definition #X, a hidden field _x or a closing bracket). A package of
// definitions only, such as a template that services import, is not a spec.
func IsCUEPackageSpec(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("discovering specs: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".cue") {
			continue
		}
		ok, err := hasTopLevelValue(filepath.Join(dir, e.Name()))
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// hasTopLevelValue scans a .cue file for a top-level regular field or
// embedding (see IsCUEPackageSpec).
func hasTopLevelValue(file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, fmt.Errorf("discovering specs: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	inImport := false
	for sc.Scan() {
		line := sc.Text()
		if inImport {
			if strings.HasPrefix(strings.TrimSpace(line), ")") {
				inImport = false
			}
			continue
		}
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		switch {
		case strings.HasPrefix(line, "//"), strings.HasPrefix(line, "package "),
			strings.HasPrefix(line, "#"), strings.HasPrefix(line, "_"),
			strings.ContainsAny(line[:1], "}])"):
		case strings.HasPrefix(line, "import"):
			inImport = strings.HasSuffix(strings.TrimSpace(line), "(")
		default:
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("discovering specs: reading %s: %w", file, err)
	}
	return false, nil
}

// readIgnore reads root's ignore file; nil when there is none.
func readIgnore(root string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(root, IgnoreFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", IgnoreFile, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", IgnoreFile, err)
	} else if !fi.Mode().IsRegular() || fi.Size() > maxIgnoreSize {
		return nil, fmt.Errorf("reading %s: not a regular file of at most %d bytes", IgnoreFile, maxIgnoreSize)
	}
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", IgnoreFile, err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IgnoreFile, err)
	}
	return pm, nil
}
