package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry"
)

func (a *app) inspectCmd() *cobra.Command {
	var f registryFlags
	var jsonOut bool
	c := &cobra.Command{
		Use:   "inspect REF",
		Short: "Show a manifest: digest, media type, platforms, layers and config",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ref, err := a.registryRef(&f, args[0])
			if err != nil {
				return err
			}
			ctx, cancel := f.withTimeout(cmd.Context())
			defer cancel()
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
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
