package compose

import (
	"context"

	"github.com/strata-build/strata/spec"
)

// Plan computes what Build would produce for s without writing anything: no
// layer blob is stored and no output is written. The Result lists, for every
// platform, each emitted layer's entries (whiteouts included) with the
// digests Build will produce, the spec layers that are empty, and the config
// changes against the base. Plan and Build give the same digests for the
// same inputs. The Result's DryRun is true: WriteOutputs refuses it.
func Plan(ctx context.Context, s *spec.Spec, cacheDir string, opts ...Option) (*Result, error) {
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	return composeImage(ctx, s, cacheDir, true, o)
}
