package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a spec, tied to a field and, when known, a position.
type Error struct {
	Pos  Position // zero when the position is unknown
	Path string   // field path such as "layers[0].files[1].dest"; empty for the whole spec
	Msg  string   // what is wrong; what is valid
}

// Error formats e as "FILE:LINE:COL: field.path: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos.File != "" {
		b.WriteString(e.Pos.File)
		if e.Pos.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, max(e.Pos.Col, 1))
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one or more specs. It is the error type
// returned by Load and Validate for a bad spec.
type ErrorList []*Error

// Error joins the problems, one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the problems by file, line, column and path, and drops exact
// duplicates.
func (l *ErrorList) Sort() {
	s := *l
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Path < b.Path
	})
	out := s[:0]
	for i, e := range s {
		if i > 0 && e.Error() == s[i-1].Error() {
			continue
		}
		out = append(out, e)
	}
	*l = out
}

// Err returns nil for an empty list and the list otherwise.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Pos returns the position of the field at path, falling back to the nearest
// enclosing field that has one. It returns the zero Position for a Spec built
// in code.
func (s *Spec) Pos(path string) Position {
	if s.source == nil {
		return Position{}
	}
	for p := path; ; {
		if pos, ok := s.source.Positions[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return Position{File: s.source.File}
		}
		p = p[:i]
	}
}

// Errorf returns an *Error for the field at path, positioned in s's file.
func (s *Spec) Errorf(path, format string, args ...any) *Error {
	return &Error{Pos: s.Pos(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}
