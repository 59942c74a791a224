// Command strata composes reproducible OCI images from a declarative spec.
//
// It is a thin shell over packages spec and compose: each subcommand parses
// its flags, reads the environment, calls one library function and prints the
// result. Results go to stdout, messages to stderr.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a build, output or registry failure
	exitUsage   = 2 // bad usage or a bad spec
)

func main() {
	setMemoryLimit()
	stopProfiles := startProfiles()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	stopProfiles()
	os.Exit(code)
}

// app holds what every subcommand needs from the process: streams and the
// environment. Nothing below cmd reads the environment itself.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            map[string]string
	// releases are run when the command is done: the in-use locks it
	// holds on the cache and the store (see use).
	releases []func()
	// jsonErrors is set by a command run with --json whose failures are
	// printed as a JSON object on stdout too (build, plan, push).
	jsonErrors bool
	// specPaths are the specs the command works on (set by buildJob), for
	// the file of a JSON error that has no position.
	specPaths []string
	// secrets are the credentials obtained from registries so far; every
	// message is scrubbed of them (nil until a command talks to one).
	secrets *registry.Secrets
}

// lookupEnv reads a variable from the process environment captured at start.
func (a *app) lookupEnv(k string) (string, bool) {
	v, ok := a.env[k]
	return v, ok
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
	for _, release := range a.releases {
		release()
	}
	if err == nil {
		return exitOK
	}
	// cobra reports an unknown subcommand as a plain error; it is bad usage.
	// (Checked after Execute, which adds the help and completion commands.)
	if _, _, ferr := root.Find(args); ferr != nil {
		err = usageError{err}
	}
	a.printError(err)
	code := exitCode(err)
	if a.jsonErrors {
		a.printJSONError(err, code)
	}
	return code
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
		a.diffCmd(),
		a.verifyCmd(),
		a.lockCmd(),
		a.imagesCmd(),
		a.pruneCmd(),
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
