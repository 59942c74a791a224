package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(#4): placeholder until the command lands.
func (a *app) tagsCmd() *cobra.Command {
	return &cobra.Command{
		Use: "tags",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("tags: not implemented yet (issue 4)")
		},
	}
}
