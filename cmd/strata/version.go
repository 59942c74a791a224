package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#2): placeholder until the command lands.
func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use: "version",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("version: not implemented yet (issue 2)")
		},
	}
}
