package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#4): placeholder until the command lands.
func (a *app) registryCmd() *cobra.Command {
	return &cobra.Command{
		Use: "registry",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("registry: not implemented yet (issue 4)")
		},
	}
}
