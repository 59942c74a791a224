// Command strata composes reproducible OCI images from a declarative spec.
//
// It is a thin shell over packages spec and compose: each subcommand parses
// its flags, reads the environment, calls one library function and prints the
// result. Results go to stdout, messages to stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/spec"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a build, output or registry failure
	exitUsage   = 2 // bad usage or a bad spec
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// app holds what every subcommand needs from the process: streams and the
// environment. Nothing below cmd reads the environment itself.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            map[string]string
}

// lookupEnv reads a variable from the process environment captured at start.
func (a *app) lookupEnv(k string) (string, bool) {
	v, ok := a.env[k]
	return v, ok
}

// usageError marks bad command-line usage (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run executes one strata command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: map[string]string{}}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			a.env[k] = v
		}
	}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// cobra reports an unknown subcommand as a plain error; it is bad usage.
	// (Checked after Execute, which adds the help and completion commands.)
	if _, _, ferr := root.Find(args); ferr != nil {
		err = usageError{err}
	}
	a.printError(err)
	return exitCode(err)
}

// exitCode maps an error to the documented exit status.
func exitCode(err error) int {
	var ue usageError
	var sl spec.ErrorList
	var se *spec.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.As(err, &sl), errors.As(err, &se):
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
			msg += " (" + registry.Redact(outer) + ")"
		}
		fmt.Fprintln(a.stderr, msg)
		return
	}
	// Every message is scrubbed: a reference typed with user:password@, a
	// signed URL or a token in a registry's answer never reaches the terminal.
	fmt.Fprintf(a.stderr, "strata: %s\n", registry.Redact(err.Error()))
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Compose reproducible OCI images from a declarative spec",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		a.validateCmd(),
		a.schemaCmd(),
		a.versionCmd(),
		a.buildCmd(),
		a.planCmd(),
		a.pushCmd(),
		a.tagsCmd(),
		a.inspectCmd(),
		a.deleteCmd(),
		a.copyCmd(),
		a.registryCmd(),
	)
	// Unknown subcommands and bad arguments are usage errors.
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs turns cobra's argument-count errors into usage errors.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}
