package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/spec"
)

// buildReport is the --json shape of one built spec.
type buildReport struct {
	Spec      string           `json:"spec"`
	Digest    string           `json:"digest"`
	Platforms []platformReport `json:"platforms"`
	Outputs   []string         `json:"outputs,omitempty"` // build only
	// Status is "rebuilt", or "unchanged" when the output already held
	// this image under its name (build only).
	Status string `json:"status,omitempty"`
}

type platformReport struct {
	Platform string        `json:"platform"`
	Digest   string        `json:"digest"`
	Layers   []layerReport `json:"layers"`
	// Plan only:
	Skipped []string               `json:"skipped,omitempty"`
	Changes []compose.ConfigChange `json:"changes,omitempty"`
}

type layerReport struct {
	Name    string        `json:"name"`
	DiffID  string        `json:"diffID"`
	Digest  string        `json:"digest"`
	Size    int64         `json:"size"`
	Entries []layer.Entry `json:"entries,omitempty"` // plan only
}

// report renders a Result in the --json shape; plan adds entries, skipped
// layers and config changes.
func report(path string, res *compose.Result, plan bool) buildReport {
	r := buildReport{Spec: path, Digest: res.Digest.String(), Outputs: []string{}}
	for _, p := range res.Platforms {
		pr := platformReport{Platform: p.Platform.String(), Digest: p.Digest.String(), Layers: []layerReport{}}
		for _, l := range p.Layers {
			lr := layerReport{Name: l.Name, DiffID: l.DiffID.String(), Digest: l.Digest.String(), Size: l.Size}
			if plan {
				lr.Entries = l.Entries
			}
			pr.Layers = append(pr.Layers, lr)
		}
		if plan {
			pr.Skipped = p.Skipped
			pr.Changes = p.Changes
		}
		r.Platforms = append(r.Platforms, pr)
	}
	return r
}

// printWarnings prints each of a build's warnings on stderr, prefixed with
// the spec path.
func printWarnings(a *app, path string, res *compose.Result) {
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "strata: warning: %s: %s\n", path, w)
	}
}

func writeJSON(a *app, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// printBuilt reports a build: per spec its digest on stdout and, on
// stderr, each output written, or "unchanged" for a layout that already
// held the image under its name; with several specs, how many images were
// rebuilt. With asJSON, one buildReport per spec instead, with its status.
func (a *app) printBuilt(paths []string, results []*compose.Result, outs []compose.Outputs, unchanged []bool, asJSON bool) error {
	nUnchanged := 0
	for i, res := range results {
		status, verb := "rebuilt", "wrote"
		if unchanged[i] {
			status, verb = "unchanged", "unchanged"
			nUnchanged++
		}
		var written, lines []string
		if o := outs[i]; o.LayoutDir != "" {
			for _, ref := range o.LayoutRefs {
				w := spec.LayoutPrefix + o.LayoutDir + ":" + ref
				written, lines = append(written, w), append(lines, verb+" "+w)
			}
		}
		if o := outs[i]; o.TarballPath != "" {
			w := spec.ArchivePrefix + o.TarballPath
			written, lines = append(written, w), append(lines, "wrote "+w)
		}
		if asJSON {
			r := report(paths[i], res, false)
			r.Outputs, r.Status = written, status
			if err := writeJSON(a, r); err != nil {
				return err
			}
			continue
		}
		for _, l := range lines {
			fmt.Fprintf(a.stderr, "strata: %s: %s\n", paths[i], l)
		}
		fmt.Fprintln(a.stdout, res.Digest)
	}
	if len(results) > 1 && !asJSON {
		fmt.Fprintf(a.stderr, "strata: %d images: %d rebuilt, %d unchanged\n", len(results), len(results)-nUnchanged, nUnchanged)
	}
	return nil
}

// errorReport is the --json shape of a failed build, plan or push: every
// problem, in the order printed on stderr, and the exit status.
type errorReport struct {
	Errors   []validateError `json:"errors"`
	ExitCode int             `json:"exitCode"`
}

// printJSONError writes err as an errorReport on stdout. A spec problem
// carries its file, line, column and field path; any other failure its
// redacted message and the file of the spec it concerns (when the command
// works on one spec, or several were built and one failed).
func (a *app) printJSONError(err error, code int) {
	r := errorReport{Errors: []validateError{}, ExitCode: code}
	for _, e := range joined(err) {
		var sl spec.ErrorList
		var se *spec.Error
		var ce *compose.SpecError
		switch {
		case errors.As(e, &sl):
			for _, x := range sl {
				r.Errors = append(r.Errors, validateError{File: x.Pos.File, Line: x.Pos.Line, Col: x.Pos.Col, Path: x.Path, Message: x.Msg})
			}
		case errors.As(e, &se):
			r.Errors = append(r.Errors, validateError{File: se.Pos.File, Line: se.Pos.Line, Col: se.Pos.Col, Path: se.Path, Message: se.Msg})
		default:
			ve := validateError{Message: registry.Redact(e.Error())}
			if errors.As(e, &ce) {
				ve.File = ce.Name
			} else if len(a.specPaths) == 1 {
				ve.File = a.specPaths[0]
			}
			r.Errors = append(r.Errors, ve)
		}
	}
	// stdout may be gone (a closed pipe); stderr already has the problems.
	_ = writeJSON(a, r)
}
