package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/sbom"
)

// supplyFlags are the supply-chain flags of build and push: which documents
// are attached to the images as OCI 1.1 referrers.
type supplyFlags struct {
	sbom       bool
	sbomFormat string
}

func (f *supplyFlags) register(c *cobra.Command, on bool) {
	c.Flags().BoolVar(&f.sbom, "sbom", on, "attach an SBOM to every platform image as an OCI 1.1 referrer (the image digest does not change)")
	c.Flags().StringVar(&f.sbomFormat, "sbom-format", "spdx", "SBOM format: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON)")
}

// attachments makes the documents the flags ask for.
func (f *supplyFlags) attachments(ctx context.Context, res *compose.Result) ([]compose.Attachment, error) {
	format, err := sbom.ParseFormat(f.sbomFormat)
	if err != nil {
		return nil, usagef("--sbom-format: %v", err)
	}
	atts, err := compose.Attachments(ctx, res, compose.AttachOptions{SBOM: f.sbom, SBOMFormat: format, Tool: "strata-" + moduleVersion()})
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
