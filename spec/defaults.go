package spec

import "path/filepath"

// WithDefaults returns a copy of s with defaults applied: Context resolved to
// an absolute directory (relative contexts are taken from the spec file's
// directory, or from dir when s has no source). s itself is not changed.
func WithDefaults(s *Spec, dir string) *Spec {
	out := *s
	if s.source != nil && s.source.Dir != "" {
		dir = s.source.Dir
	}
	ctx := s.Context
	if ctx == "" {
		ctx = "."
	}
	if !filepath.IsAbs(ctx) {
		ctx = filepath.Join(dir, ctx)
	}
	out.Context = filepath.Clean(ctx)
	return &out
}
