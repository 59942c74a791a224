package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#3): placeholder until the command lands.
func (a *app) buildCmd() *cobra.Command {
	return &cobra.Command{
		Use: "build",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("build: not implemented yet (issue 3)")
		},
	}
}
