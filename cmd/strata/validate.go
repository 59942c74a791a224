package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/spec"
)

// validateCmd checks specs without building anything.
func (a *app) validateCmd() *cobra.Command {
	var (
		asJSON bool
		sets   []string
		cue    cueFlags
	)
	cmd := &cobra.Command{
		Use:   "validate [SPEC...]",
		Short: "Check specs against the schema and the spec rules",
		Long: `Check each spec (a .yaml, .yml or .cue file, or a CUE package directory;
default: image.yaml, image.yml, image.cue or the CUE package in the current
directory, the first found) and print "SPEC: ok" for each good one. Problems are printed to stderr, one per
line, as FILE:LINE:COL: field.path: message. Nothing is built, read from the
context or fetched. Exit status 2 when any spec is bad.`,
		RunE: func(c *cobra.Command, args []string) error {
			vars, err := parseSets(sets)
			if err != nil {
				return err
			}
			if args, err = expandPatterns(args); err != nil {
				return err
			}
			if len(args) == 0 {
				p, err := defaultSpec()
				if err != nil {
					return err
				}
				args = []string{p}
			}
			opts, err := cue.loadOptions(vars, a.lookupEnv)
			if err != nil {
				return err
			}
			var all spec.ErrorList
			results := make([]validateResult, 0, len(args))
			for _, p := range args {
				_, err := spec.LoadContext(c.Context(), p, opts)
				if err != nil && (errors.Is(err, spec.ErrBudget) || c.Context().Err() != nil) {
					// The stopped evaluation goes on in the background:
					// load nothing more.
					return err
				}
				errs := asErrorList(p, err)
				all = append(all, errs...)
				results = append(results, newResult(p, errs))
				if !asJSON && err == nil {
					fmt.Fprintf(a.stdout, "%s: ok\n", p)
				}
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			}
			return all.Err()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of {file, valid, errors} to stdout")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "set a spec variable, KEY=VALUE (repeatable; wins over the environment)")
	cue.register(cmd)
	return cmd
}

// parseSets turns --set KEY=VALUE flags into variables.
func parseSets(sets []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--set %q: want KEY=VALUE", kv)
		}
		vars[k] = v
	}
	return vars, nil
}

// asErrorList turns Load's error into spec problems; an unreadable spec
// file is a problem of that spec too.
func asErrorList(path string, err error) spec.ErrorList {
	if err == nil {
		return nil
	}
	var el spec.ErrorList
	if errors.As(err, &el) {
		return el
	}
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = "cannot read spec: " + pe.Err.Error()
	}
	return spec.ErrorList{{Pos: spec.Position{File: path}, Msg: msg}}
}

// validateResult is one element of validate --json's output.
type validateResult struct {
	File   string          `json:"file"`
	Valid  bool            `json:"valid"`
	Errors []validateError `json:"errors"`
}

type validateError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

func newResult(p string, errs spec.ErrorList) validateResult {
	r := validateResult{File: p, Valid: len(errs) == 0, Errors: []validateError{}}
	for _, e := range errs {
		r.Errors = append(r.Errors, validateError{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Path: e.Path, Message: e.Msg})
	}
	return r
}

// defaultSpec is the spec a command uses when none is named (spec.Find in
// the working directory); finding none is bad usage.
func defaultSpec() (string, error) {
	p, err := spec.Find(".")
	if errors.Is(err, spec.ErrNotFound) {
		return "", usageError{err}
	}
	return p, err
}

// warnSpec prints a spec problem that does not stop the command.
func (a *app) warnSpec(e *spec.Error) {
	fmt.Fprintf(a.stderr, "strata: warning: %s\n", e)
}
