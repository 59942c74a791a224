package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-build/strata/spec"
)

// enclosingRoot returns the directory a spec file's context must stay in:
// the nearest directory at or above dir holding .git or cue.mod (the
// repository or CUE module the spec belongs to), else dir itself.
func enclosingRoot(dir string) string {
	for d := dir; ; {
		for _, marker := range []string{".git", "cue.mod"} {
			if _, err := os.Lstat(filepath.Join(d, marker)); err == nil {
				return d
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// checkContextBound refuses the context of a spec loaded from a file when
// it leads outside the enclosing repository (see enclosingRoot), by ".."
// or through a symlink: a spec must not pack the host's files (context:
// ../../../../etc). A Spec built in code has no file and is not bound.
func checkContextBound(s *spec.Spec) error {
	src := s.Source()
	if src == nil || src.Dir == "" {
		return nil
	}
	root := enclosingRoot(src.Dir)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("resolving the spec's repository %s: %w", root, err)
	}
	realCtx, err := filepath.EvalSymlinks(s.Context)
	if err != nil {
		return fmt.Errorf("opening context directory: %w", err)
	}
	rel, err := filepath.Rel(realRoot, realCtx)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		err := fmt.Errorf("context %s leads outside %s, the spec's repository (the nearest directory holding .git or cue.mod, else the spec's own directory); keep the context inside it", s.Context, root)
		if p, ok := src.Positions["context"]; ok {
			return &spec.Error{Pos: p, Path: "context", Msg: err.Error()}
		}
		return err
	}
	return nil
}
