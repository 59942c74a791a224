package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry"
)

func (a *app) tagsCmd() *cobra.Command {
	var f registryFlags
	var jsonOut bool
	c := &cobra.Command{
		Use:   "tags REPO",
		Short: "List the tags of a repository",
		Long: `Tags prints the tags of a registry repository (e.g. 127.0.0.1:5000/web/app), one per line, sorted.
Referrers tags (sha256-HEX: where a registry lacks the OCI referrers API, the
index listing the SBOMs, provenance and signatures attached to an image) are
not image tags and are left out.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.transportConfig(&f)
			if err != nil {
				return err
			}
			repo, err := cfg.ParseRepository(args[0])
			if err != nil {
				return usagef("repository %q: %v", args[0], err)
			}
			ctx, cancel := f.withTimeout(cmd.Context())
			defer cancel()
			tags, err := registry.ListTags(ctx, repo, cfg)
			if err != nil {
				return redacted(err, &f)
			}
			tags = slices.DeleteFunc(tags, isReferrersTag)
			if jsonOut {
				if tags == nil {
					tags = []string{}
				}
				return writeJSON(a, map[string]any{"repository": repo.Name(), "tags": tags})
			}
			for _, t := range tags {
				fmt.Fprintln(a.stdout, t)
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return c
}

// isReferrersTag reports whether t is a tag of the OCI referrers tag schema
// (sha256-HEX).
func isReferrersTag(t string) bool {
	hex, ok := strings.CutPrefix(t, "sha256-")
	return ok && len(hex) == 64 && strings.Trim(hex, "0123456789abcdef") == ""
}
