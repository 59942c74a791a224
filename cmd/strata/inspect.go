package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#4): placeholder until the command lands.
func (a *app) inspectCmd() *cobra.Command {
	return &cobra.Command{
		Use: "inspect",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("inspect: not implemented yet (issue 4)")
		},
	}
}
