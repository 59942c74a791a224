package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#2): placeholder until the command lands.
func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use: "schema",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("schema: not implemented yet (issue 2)")
		},
	}
}
