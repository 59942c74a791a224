package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#4): placeholder until the command lands.
func (a *app) copyCmd() *cobra.Command {
	return &cobra.Command{
		Use: "copy",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("copy: not implemented yet (issue 4)")
		},
	}
}
