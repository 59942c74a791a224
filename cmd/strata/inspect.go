package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
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
		Long: `Inspect describes an image or index: a registry reference, oci:DIR[:tag|@digest]
(an OCI layout, such as the local store build writes to) or docker-archive:FILE.
It shows the digest, media type, size and annotations; for an index its
platforms; for an image its whole config (entrypoint, cmd, env, workdir, user,
ports, volumes, labels, stop signal) and its layers.

--sbom prints the SBOM attached to a registry image (to each platform image
of an index, one document after the other) and --provenance the provenance
statement, as strata push attached them (OCI 1.1 referrers, or the
referrers tag where the registry has no referrers API).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.transportConfig(&f)
			if err != nil {
				return err
			}
			loc, err := registry.ParseLocation(args[0], cfg)
			if err != nil {
				return usagef("reference %q: %v", args[0], err)
			}
			ctx, cancel := f.withTimeout(cmd.Context())
			defer cancel()
			if sbomOut || provOut {
				if loc.Kind != "registry" {
					return usagef("--sbom and --provenance read the documents push attached in a registry; %s is not a registry reference", args[0])
				}
				return a.printAttached(ctx, loc.Ref, cfg, &f, sbomOut)
			}
			ins, err := registry.InspectLocation(ctx, loc, registry.InspectOptions{Transport: cfg})
			if err != nil {
				return redacted(err, &f)
			}
			if jsonOut {
				return writeJSON(a, ins)
			}
			printInspection(a.stdout, ins)
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

// printInspection writes the human form of an inspection.
func printInspection(w io.Writer, ins *registry.Inspection) {
	line := func(k, v string) { fmt.Fprintf(w, "%-10s %s\n", k+":", v) }
	line("reference", ins.Reference)
	line("digest", ins.Digest)
	line("mediaType", ins.MediaType)
	line("size", humanBytes(ins.Size))
	printMap(w, "annotations", ins.Annotations)
	if len(ins.Manifests) > 0 {
		fmt.Fprintln(w, "manifests:")
		for _, m := range ins.Manifests {
			fmt.Fprintf(w, "  %s  %s  %s\n", m.Digest, orDash(m.Platform), humanBytes(m.Size))
		}
	}
	c := ins.Config
	if c == nil {
		return
	}
	line("platform", c.Platform)
	line("config", c.Digest)
	opt := func(k, v string) {
		if v != "" {
			line(k, v)
		}
	}
	opt("created", c.Created)
	if len(c.Entrypoint) > 0 {
		line("entrypoint", fmt.Sprintf("%q", c.Entrypoint))
	}
	if len(c.Cmd) > 0 {
		line("cmd", fmt.Sprintf("%q", c.Cmd))
	}
	opt("workdir", c.WorkingDir)
	opt("user", c.User)
	opt("env", strings.Join(c.Env, " "))
	opt("ports", strings.Join(c.Ports, " "))
	opt("volumes", strings.Join(c.Volumes, " "))
	opt("stopSignal", c.StopSignal)
	printMap(w, "labels", c.Labels)
	var total int64
	for _, l := range ins.Layers {
		total += l.Size
	}
	fmt.Fprintf(w, "layers:    %d, %s\n", len(ins.Layers), humanBytes(total))
	for _, l := range ins.Layers {
		fmt.Fprintf(w, "  %s  %s  %s\n", l.Digest, humanBytes(l.Size), l.MediaType)
	}
}

// printMap writes a heading and one "key=value" line per entry, sorted.
func printMap(w io.Writer, heading string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", heading)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(w, "  %s=%s\n", k, m[k])
	}
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
