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
	)
	cmd := &cobra.Command{
		Use:   "validate SPEC...",
		Short: "Check specs against the schema and the spec rules",
		Long: `Check each spec (a .yaml, .yml or .cue file, or a CUE package directory)
and print "SPEC: ok" for each good one. Problems are printed to stderr, one per
line, as FILE:LINE:COL: field.path: message. Nothing is built, read from the
context or fetched. Exit status 2 when any spec is bad.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			vars, err := parseSets(sets)
			if err != nil {
				return err
			}
			if args, err = expandPatterns(args); err != nil {
				return err
			}
			opts := spec.LoadOptions{Vars: vars, LookupEnv: a.lookupEnv}
			var all spec.ErrorList
			results := make([]validateResult, 0, len(args))
			for _, p := range args {
				_, err := spec.Load(p, opts)
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
