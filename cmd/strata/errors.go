package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/spec"
)

// usageError marks bad command-line usage (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode maps an error to the documented exit status. For several
// errors joined (several specs failed) it is the highest of theirs: 2 when
// any spec is bad, as in validate.
func exitCode(err error) int {
	if errs := joined(err); len(errs) > 1 {
		code := exitOK
		for _, e := range errs {
			code = max(code, exitCode(e))
		}
		return code
	}
	var ue usageError
	var sl spec.ErrorList
	var se *spec.Error
	var qe quietExit
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &qe):
		return qe.code
	case errors.As(err, &ue), errors.As(err, &sl), errors.As(err, &se), errors.Is(err, compose.ErrNoSuchPlatform), errors.Is(err, spec.ErrBudget),
		errors.As(err, new(*compose.OutputConflictError)):
		return exitUsage
	}
	return exitFailure
}

// specFailure is the problem of one spec named on the command line.
type specFailure struct {
	path string
	err  error
}

// joinFailures orders the failures by spec path and joins them: spec
// problems into one ErrorList, anything else with errors.Join.
func joinFailures(fs []specFailure) error {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].path < fs[j].path })
	if len(fs) == 1 {
		return fs[0].err
	}
	var list spec.ErrorList
	errs := make([]error, len(fs))
	allSpec := true
	for i, f := range fs {
		errs[i] = f.err
		var el spec.ErrorList
		if errors.As(f.err, &el) {
			list = append(list, el...)
		} else {
			allSpec = false
		}
	}
	if allSpec {
		return list
	}
	return errors.Join(errs...)
}

// joined returns the errors joined in err (errors.Join, as BuildAll
// returns when several specs failed), or err alone.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// printError writes err to stderr: spec problems one per line as they are,
// anything else prefixed with "strata: ". Joined errors are printed one
// after the other.
func (a *app) printError(err error) {
	if errors.As(err, new(quietExit)) {
		return
	}
	if errs := joined(err); len(errs) > 1 {
		for _, e := range errs {
			a.printError(e)
		}
		return
	}
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
