package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry"
)

func (a *app) deleteCmd() *cobra.Command {
	var f registryFlags
	c := &cobra.Command{
		Use:   "delete REF",
		Short: "Delete a manifest from a registry",
		Long: `Delete deletes the manifest REF names. A tag is resolved to its digest and
the manifest is deleted by digest, so on most registries every tag pointing at
it disappears too. Registries that refuse deletes (distribution without
storage.delete.enabled) get a message saying so. It prints REPO@DIGEST.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ref, err := a.registryRef(&f, args[0])
			if err != nil {
				return err
			}
			ctx, cancel := f.withTimeout(cmd.Context())
			defer cancel()
			d, err := registry.Delete(ctx, ref, cfg)
			if err != nil {
				return redacted(err, &f)
			}
			fmt.Fprintf(a.stdout, "%s@%s\n", ref.Context().Name(), d)
			return nil
		},
	}
	f.register(c)
	return c
}
