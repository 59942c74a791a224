package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestValidateExitCodes pins the exit statuses: 0 for good specs, 2 for a
// bad or missing spec and for bad usage.
func TestValidateExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("base: scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("base: scratch\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"validate", good}, exitOK},
		{[]string{"validate", "--json", good}, exitOK},
		{[]string{"validate", good, bad}, exitUsage},
		{[]string{"validate", "--json", bad}, exitUsage},
		{[]string{"validate", filepath.Join(dir, "missing.yaml")}, exitUsage},
		{[]string{"validate"}, exitUsage},
		{[]string{"validate", "--set", "X", good}, exitUsage},
		{[]string{"schema"}, exitOK},
		{[]string{"schema", "--json-schema"}, exitOK},
		{[]string{"version"}, exitOK},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if got := run(context.Background(), tt.args, nil, &out, &errOut, nil); got != tt.want {
			t.Errorf("strata %q exited %d, want %d\nstderr: %s", tt.args, got, tt.want, errOut.String())
		}
	}
}

// TestSchemaOutputMatchesFiles: `strata schema` prints the embedded CUE
// schema and `--json-schema` the checked-in JSON Schema, byte for byte.
func TestSchemaOutputMatchesFiles(t *testing.T) {
	for args, file := range map[string]string{"": "../../schema/image.cue", "--json-schema": "../../schema/image.schema.json"} {
		argv := []string{"schema"}
		if args != "" {
			argv = append(argv, args)
		}
		var out, errOut bytes.Buffer
		if code := run(context.Background(), argv, nil, &out, &errOut, nil); code != exitOK {
			t.Fatalf("strata %q: exit %d: %s", argv, code, errOut.String())
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("strata %q output differs from %s", argv, file)
		}
	}
}
