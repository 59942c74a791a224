// Package schema holds the CUE schema of strata spec v1.
//
// The schema lives in image.cue and is embedded here so that the spec
// package and the CLI can compile it without reading any file at run time.
// This package has no logic and imports nothing of strata's.
package schema

import _ "embed"

// Filename is the name the schema source is compiled under; it appears in
// CUE positions and lets callers drop them from user-facing messages.
const Filename = "schema.cue"

// Source is the CUE source of the schema (package schema, definition #Image).
//
//go:embed image.cue
var Source string

// Definition is the path of the top-level definition every spec unifies with.
const Definition = "#Image"
