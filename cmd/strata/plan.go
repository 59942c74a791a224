package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#3): placeholder until the command lands.
func (a *app) planCmd() *cobra.Command {
	return &cobra.Command{
		Use: "plan",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("plan: not implemented yet (issue 3)")
		},
	}
}
