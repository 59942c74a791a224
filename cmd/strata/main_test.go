package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript scripts run "strata" as a command in-process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"strata": func() {
			// As in main: an interrupt cancels the context (registry serve
			// exits cleanly on `kill -INT`).
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
			stop()
			os.Exit(code)
		},
	})
}

// TestScripts runs the end-to-end scripts in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script", Setup: scriptSetup, Cmds: scriptCmds()})
}
