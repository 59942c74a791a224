package oci

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// writeLayout is WriteLayout with default options.
func writeLayout(ctx context.Context, dir string, a Artifact, ref string) error {
	return WriteLayout(ctx, dir, a, []string{ref}, WriteOptions{})
}

// writeLayoutSeam is WriteLayout with a test seam around every written file.
func writeLayoutSeam(ctx context.Context, dir string, a Artifact, ref string, s writeSeam) error {
	return WriteLayout(ctx, dir, a, []string{ref}, WriteOptions{seam: s})
}

// writeTarball is WriteTarball with default options.
func writeTarball(ctx context.Context, path string, a Artifact, refs []name.Tag) error {
	return WriteTarball(ctx, path, a, refs, WriteOptions{})
}

// writeTarballSeam is WriteTarball with a test seam around the file.
func writeTarballSeam(ctx context.Context, path string, a Artifact, refs []name.Tag, s writeSeam) error {
	return WriteTarball(ctx, path, a, refs, WriteOptions{seam: s})
}

// tool returns the path of an external checker; missing tools fail the test
// (make test installs them).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (run make tools): %v", name, err)
	}
	return p
}

// run runs a command and returns its stdout, failing the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
