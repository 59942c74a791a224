package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/schema"
	"github.com/strata-build/strata/spec"
)

// schemaCmd prints the CUE schema, or the JSON Schema generated from it.
func (a *app) schemaCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the spec schema (CUE, or JSON Schema with --json-schema)",
		Long: `Print the CUE schema every spec is checked against (definition #Image).
With --json-schema, print a JSON Schema (draft 2020-12) generated from it,
for editors; it is also checked in as schema/image.schema.json.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if !asJSON {
				_, err := fmt.Fprint(a.stdout, schema.Source)
				return err
			}
			js, err := spec.JSONSchema()
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(js)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json-schema", false, "print a JSON Schema generated from the CUE schema")
	return cmd
}
