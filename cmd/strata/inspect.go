package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/provenance"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/compose/sbom"
)

func (a *app) inspectCmd() *cobra.Command {
	var f registryFlags
	var jsonOut, sbomOut, provOut bool
	c := &cobra.Command{
		Use:   "inspect REF",
		Short: "Show a manifest: digest, media type, platforms, layers and config",
		Long: `Inspect shows a manifest: digest, media type, platforms, layers and config.

--sbom prints the SBOM attached to the image (to each platform image of an
index, one document after the other) and --provenance the provenance
statement, as strata push attached them (OCI 1.1 referrers, or the
referrers tag where the registry has no referrers API).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ref, err := a.registryRef(&f, args[0])
			if err != nil {
				return err
			}
			ctx, cancel := f.withTimeout(cmd.Context())
			defer cancel()
			if sbomOut || provOut {
				return a.printAttached(ctx, ref, cfg, &f, sbomOut)
			}
			ins, err := registry.Inspect(ctx, ref, cfg)
			if err != nil {
				return redacted(err, &f)
			}
			if jsonOut {
				return writeJSON(a, ins)
			}
			w := a.stdout
			fmt.Fprintf(w, "reference: %s\ndigest:    %s\nmediaType: %s\nsize:      %d\n", ins.Reference, ins.Digest, ins.MediaType, ins.Size)
			if len(ins.Manifests) > 0 {
				fmt.Fprintln(w, "manifests:")
				for _, m := range ins.Manifests {
					fmt.Fprintf(w, "  %s  %s  %d\n", m.Digest, orDash(m.Platform), m.Size)
				}
			}
			if c := ins.Config; c != nil {
				fmt.Fprintf(w, "platform:  %s\nconfig:    %s\n", c.Platform, c.Digest)
				if c.Created != "" {
					fmt.Fprintf(w, "created:   %s\n", c.Created)
				}
				if len(c.Entrypoint) > 0 {
					fmt.Fprintf(w, "entrypoint: %q\n", c.Entrypoint)
				}
				if len(c.Cmd) > 0 {
					fmt.Fprintf(w, "cmd:       %q\n", c.Cmd)
				}
				if c.User != "" {
					fmt.Fprintf(w, "user:      %s\n", c.User)
				}
				if len(c.Env) > 0 {
					fmt.Fprintf(w, "env:       %s\n", strings.Join(c.Env, " "))
				}
				fmt.Fprintln(w, "layers:")
				for _, l := range ins.Layers {
					fmt.Fprintf(w, "  %s  %d  %s\n", l.Digest, l.Size, l.MediaType)
				}
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	c.Flags().BoolVar(&sbomOut, "sbom", false, "print the attached SBOM(s) instead")
	c.Flags().BoolVar(&provOut, "provenance", false, "print the attached provenance statement instead")
	c.MarkFlagsMutuallyExclusive("sbom", "provenance", "json")
	return c
}

// printAttached prints the SBOMs or the provenance attached to ref.
func (a *app) printAttached(ctx context.Context, ref name.Reference, cfg registry.TransportConfig, f *registryFlags, sbomOut bool) error {
	types, what := []string{provenance.MediaType}, "provenance"
	if sbomOut {
		types, what = []string{sbom.MediaTypeSPDX, sbom.MediaTypeCycloneDX}, "SBOM"
	}
	docs, err := registry.ReadAttached(ctx, ref, cfg, types...)
	if err != nil {
		return redacted(err, f)
	}
	if len(docs) == 0 {
		return fmt.Errorf("%s: no %s attached", ref.Name(), what)
	}
	for _, d := range docs {
		if _, err := a.stdout.Write(d.Data); err != nil {
			return err
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
