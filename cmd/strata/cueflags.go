package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/spec"
)

// cueFlags set the budget of one CUE spec's evaluation.
type cueFlags struct {
	memoryMiB int64
	timeout   time.Duration
}

func (f *cueFlags) register(c *cobra.Command) {
	c.Flags().Int64Var(&f.memoryMiB, "cue-memory", spec.DefaultCUEMemory>>20, "stop a CUE spec's evaluation once it has used this many `MiB` of memory")
	c.Flags().DurationVar(&f.timeout, "cue-timeout", spec.DefaultCUETimeout, "stop a CUE spec's evaluation after this long")
}

// loadOptions returns the spec load options of the flags.
func (f *cueFlags) loadOptions(vars map[string]string, lookupEnv func(string) (string, bool)) (spec.LoadOptions, error) {
	if f.memoryMiB <= 0 {
		return spec.LoadOptions{}, usagef("--cue-memory must be positive, got %d", f.memoryMiB)
	}
	if f.timeout <= 0 {
		return spec.LoadOptions{}, usagef("--cue-timeout must be positive, got %s", f.timeout)
	}
	return spec.LoadOptions{Vars: vars, LookupEnv: lookupEnv, CUEMemory: f.memoryMiB << 20, CUETimeout: f.timeout}, nil
}
