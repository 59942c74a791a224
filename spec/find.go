package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound matches Find's error (errors.Is) when dir holds no spec.
var ErrNotFound = errors.New("spec: no spec found")

// Find returns the spec a command uses in dir when none is named: dir's
// image.yaml, else image.yml, else image.cue, else dir itself when it holds
// .cue files (a CUE package). The path is joined to dir as given, so Find(".")
// returns "image.yaml" or ".". When there is none, the error says what was
// looked for and matches ErrNotFound.
func Find(dir string) (string, error) {
	for _, n := range []string{"image.yaml", "image.yml", "image.cue"} {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("looking for a spec in %s: %w", dir, err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".cue") && e.Type().IsRegular() {
			return dir, nil
		}
	}
	where := "the current directory"
	if filepath.Clean(dir) != "." {
		where = dir
	}
	return "", notFoundError{where}
}

// notFoundError is Find's error; it matches ErrNotFound.
type notFoundError struct{ where string }

func (e notFoundError) Error() string {
	return "no spec found in " + e.where + ": looked for image.yaml, image.yml, image.cue and a CUE package (.cue files); name the spec to use"
}

func (e notFoundError) Is(target error) bool { return target == ErrNotFound }
