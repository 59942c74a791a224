package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/strata-build/strata/spec"
)

// usageError marks bad command-line usage (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode maps an error to the documented exit status.
func exitCode(err error) int {
	var ue usageError
	var sl spec.ErrorList
	var se *spec.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.As(err, &sl), errors.As(err, &se), errors.Is(err, spec.ErrBudget):
		return exitUsage
	}
	return exitFailure
}

// printError writes err to stderr: spec problems one per line as they are,
// anything else prefixed with "strata: ".
func (a *app) printError(err error) {
	var sl spec.ErrorList
	if errors.As(err, &sl) {
		// Spec errors are printed as they are: they quote the user's own
		// values, and references holding credentials are refused without
		// repeating them (spec.Validate).
		for _, e := range sl {
			fmt.Fprintln(a.stderr, e.Error())
		}
		return
	}
	// A problem found in a spec field during a build leads with its
	// FILE:LINE:COL, as validate's do, so editors and CI annotations find
	// it; what the build was doing follows in parentheses.
	var se *spec.Error
	if errors.As(err, &se) && se.Pos.File != "" {
		msg := se.Error()
		if outer := strings.TrimSuffix(strings.TrimSuffix(err.Error(), msg), ": "); outer != "" && outer != err.Error() {
			msg += " (" + a.secrets.Redact(outer) + ")"
		}
		fmt.Fprintln(a.stderr, msg)
		return
	}
	// Every message is scrubbed: a reference typed with user:password@, a
	// signed URL or a token in a registry's answer never reaches the terminal.
	fmt.Fprintf(a.stderr, "strata: %s\n", a.secrets.Redact(err.Error()))
}
