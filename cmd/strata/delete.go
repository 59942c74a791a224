package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#4): placeholder until the command lands.
func (a *app) deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use: "delete",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("delete: not implemented yet (issue 4)")
		},
	}
}
