package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#4): placeholder until the command lands.
func (a *app) pushCmd() *cobra.Command {
	return &cobra.Command{
		Use: "push",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("push: not implemented yet (issue 4)")
		},
	}
}
