package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

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
	cmds := scriptCmds()
	cmds["exits"] = exits
	cmds["age"] = age
	cmds["sleep"] = sleep
	cmds["cachepoison"] = cachePoison
	testscript.Run(t, testscript.Params{Dir: "testdata/script", Setup: scriptSetup, Cmds: cmds})
}

// sleep waits for a duration, e.g. before signalling a background command:
//
//	sleep 500ms
func sleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// exits runs a command and checks its exact exit status:
//
//	exits 2 strata validate bad.yaml
//
// (testscript's "! exec" accepts any failure, so it cannot tell a usage
// error, 2, from a build or registry failure, 1.)
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// age sets the mtime of every file under each PATH back by DURATION:
//
//	age 48h $WORK/cache
//
// (for strata prune --older-than).
func age(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: age DURATION PATH...")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	then := time.Now().Add(-d)
	for _, p := range args[1:] {
		ts.Check(filepath.WalkDir(ts.MkAbs(p), func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			return os.Chtimes(p, then, then)
		}))
	}
}
