// Package pin keeps the module graph complete while the packages that use these
// dependencies are being written. It is deleted once every import is real.
package pin

import (
	_ "cuelang.org/go/cue"
	_ "cuelang.org/go/cue/cuecontext"
	_ "cuelang.org/go/cue/errors"
	_ "cuelang.org/go/cue/load"
	_ "cuelang.org/go/encoding/jsonschema"
	_ "cuelang.org/go/encoding/yaml"
	_ "github.com/bmatcuk/doublestar/v4"
	_ "github.com/google/go-containerregistry/pkg/authn"
	_ "github.com/google/go-containerregistry/pkg/name"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/empty"
	_ "github.com/google/go-containerregistry/pkg/v1/layout"
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/google/go-containerregistry/pkg/v1/partial"
	_ "github.com/google/go-containerregistry/pkg/v1/random"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/google/go-containerregistry/pkg/v1/tarball"
	_ "github.com/google/go-containerregistry/pkg/v1/validate"
	_ "github.com/klauspost/compress/gzip"
	_ "github.com/klauspost/pgzip"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/spf13/cobra"
	_ "github.com/vbauerster/mpb/v8"
	_ "golang.org/x/mod/semver"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "gopkg.in/yaml.v3"
)
