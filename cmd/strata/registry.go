package main

import (
	"fmt"
	"log"
	"net"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry/local"
)

func (a *app) registryCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "registry",
		Short: "Run a local development registry",
	}
	c.AddCommand(a.registryServeCmd())
	return c
}

func (a *app) registryServeCmd() *cobra.Command {
	var addr, dir string
	var verbose bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve a registry for local development (no authentication)",
		Long: `Serve runs an OCI registry on --addr (default 127.0.0.1:5000) until interrupted.
Blobs are stored under --dir/blobs; manifests are kept in memory and journaled
to --dir/manifests.jsonl, so a restart keeps every repository and tag. It has
no authentication and no TLS: keep it on loopback (strata uses plain HTTP for
loopback registries without flags).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usagef("registry serve: --dir is required")
			}
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return usagef("--addr %q: %v", addr, err)
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				fmt.Fprintf(a.stderr, "strata: warning: serving a registry without authentication on %s\n", addr)
			}
			var logger *log.Logger
			if verbose {
				logger = log.New(a.stderr, "registry: ", log.LstdFlags)
			}
			return local.Serve(cmd.Context(), addr, dir, logger, func(l net.Addr) {
				fmt.Fprintf(a.stderr, "strata: registry listening on %s (data in %s)\n", l, dir)
			})
		},
	}
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:5000", "listen on `HOST:PORT`")
	c.Flags().StringVar(&dir, "dir", "", "store blobs and the manifest journal in `DIR` (required)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every request")
	return c
}
