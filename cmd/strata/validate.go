package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#2): placeholder until the command lands.
func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use: "validate",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("validate: not implemented yet (issue 2)")
		},
	}
}
