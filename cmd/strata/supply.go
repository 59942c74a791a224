package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/sync/semaphore"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/attach"
	"github.com/strata-build/strata/compose/provenance"
	"github.com/strata-build/strata/compose/sbom"
	"github.com/strata-build/strata/compose/sign"
)

// supplyFlags are the supply-chain flags of build and push: which documents
// are attached to the images as OCI 1.1 referrers.
type supplyFlags struct {
	sbom           bool
	sbomFormat     string
	provenance     bool
	sourceURI      string
	sourceRevision string
	signKey        string
	// memo holds the layer inventories of the command's SBOMs (see
	// observe); nil until observe or attachAll makes it.
	memo *sbom.Memo
}

// passwordVar is the environment variable the --sign-key password is read
// from (the one cosign reads).
const passwordVar = "COSIGN_PASSWORD"

func (f *supplyFlags) registerSign(c *cobra.Command) {
	c.Flags().StringVar(&f.signKey, "sign-key", "", "sign each pushed manifest and its attestations with this cosign private key `FILE` (password in $"+passwordVar+")")
}

// check refuses bad supply-chain flags before anything is built.
func (f *supplyFlags) check() error {
	if _, err := sbom.ParseFormat(f.sbomFormat); err != nil {
		return usagef("--sbom-format: %v", err)
	}
	return nil
}

// signer loads the --sign-key key, before anything is built or pushed; nil
// without the flag. Every failure is a usage error (exit 2) that names the
// file, never the key or the password.
func (f *supplyFlags) signer(a *app) (*sign.Signer, error) {
	if f.signKey == "" {
		return nil, nil
	}
	b, err := os.ReadFile(f.signKey)
	if err != nil {
		return nil, usagef("--sign-key: cannot read %s: %v", f.signKey, errors.Unwrap(err))
	}
	s, err := sign.LoadKey(b, []byte(a.env[passwordVar]))
	if err != nil {
		return nil, usagef("--sign-key %s: %v", f.signKey, err)
	}
	return s, nil
}

func (f *supplyFlags) register(c *cobra.Command, on bool) {
	c.Flags().BoolVar(&f.sbom, "sbom", on, "attach an SBOM to every platform image as an OCI 1.1 referrer (the image digest does not change)")
	c.Flags().StringVar(&f.sbomFormat, "sbom-format", "spdx", "SBOM format: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON)")
	c.Flags().BoolVar(&f.provenance, "provenance", on, "attach an in-toto SLSA v1 provenance statement to the image or index as an OCI 1.1 referrer")
	c.Flags().StringVar(&f.sourceURI, "source-uri", "", "the source repository provenance records (default: from CI variables or the spec's .git)")
	c.Flags().StringVar(&f.sourceRevision, "source-revision", "", "the source revision provenance records (default: from CI variables or the spec's .git HEAD)")
}

// wanted reports whether any document is asked for.
func (f *supplyFlags) wanted() bool { return f.sbom || f.provenance }

// docTypes are the artifact types of the documents asked for.
func (f *supplyFlags) docTypes() []string {
	var out []string
	if f.sbom {
		if format, err := sbom.ParseFormat(f.sbomFormat); err == nil {
			out = append(out, format.MediaType())
		}
	}
	if f.provenance {
		out = append(out, provenance.MediaType)
	}
	return out
}

// sbomMemo returns the command's layer inventories, kept in memory and
// under CACHE/sbom, so that a later command whose layers come from the
// layer cache reads none of them either.
func (f *supplyFlags) sbomMemo(cacheDir string) *sbom.Memo {
	if f.memo == nil {
		f.memo = sbom.NewMemo(filepath.Join(cacheDir, "sbom"))
	}
	return f.memo
}

// observe returns the compose options that have the build record the
// inventories its SBOMs need while it streams the layers (none without
// --sbom): the SBOMs then read no layer the build wrote or the base
// check read.
func (f *supplyFlags) observe(cacheDir string) []compose.Option {
	if !f.sbom {
		return nil
	}
	return []compose.Option{compose.WithObserver(attach.SBOMObserver(f.sbomMemo(cacheDir)))}
}

// attached is the documents of one result, or why they could not be made.
type attached struct {
	docs []attach.Document
	err  error
}

// attachAll makes the documents the flags ask for of every result for
// which want(i) is true (want nil: all), all results at once with at most
// jobs SBOMs generated at a time; out[i] is empty for the others. Errors
// are per result, for the caller to report in order.
func (f *supplyFlags) attachAll(ctx context.Context, a *app, job *buildJob, results []*compose.Result, want func(int) bool, jobs int) []attached {
	out := make([]attached, len(results))
	limit := semaphore.NewWeighted(int64(max(jobs, 1)))
	var memo *sbom.Memo
	if f.sbom {
		memo = f.sbomMemo(job.cacheDir) // made here, not by the goroutines
	}
	var wg sync.WaitGroup
	for i, res := range results {
		if want != nil && !want(i) {
			continue
		}
		wg.Go(func() {
			out[i].docs, out[i].err = f.attachments(ctx, a, res, job.paths[i], memo, limit)
		})
	}
	wg.Wait()
	return out
}

// attachments makes the documents the flags ask for, with the layer
// inventories of memo and at most limit SBOMs at a time.
func (f *supplyFlags) attachments(ctx context.Context, a *app, res *compose.Result, specPath string, memo *sbom.Memo, limit *semaphore.Weighted) ([]attach.Document, error) {
	format, err := sbom.ParseFormat(f.sbomFormat)
	if err != nil {
		return nil, usagef("--sbom-format: %v", err)
	}
	o := attach.Options{SBOM: f.sbom, SBOMFormat: format, Tool: "strata-" + moduleVersion(),
		Provenance: f.provenance, Version: moduleVersion(), Memo: memo, Limit: limit}
	if f.provenance {
		o.SpecFile = specPath
		o.Source = buildSource(a.env, f.sourceURI, f.sourceRevision, filepath.Dir(specPath))
	}
	atts, err := attach.Make(ctx, res, o)
	if err != nil {
		return nil, fmt.Errorf("supply-chain documents: %w", err)
	}
	return atts, nil
}

// moduleVersion is strata's module version, "(devel)" for a source build.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
