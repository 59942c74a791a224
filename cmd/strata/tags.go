package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/compose/remotecache"
)

func (a *app) tagsCmd() *cobra.Command {
	var f registryFlags
	var jsonOut, all bool
	c := &cobra.Command{
		Use:   "tags REPO",
		Short: "List the tags of a repository",
		Long: `Tags prints the tags of a registry repository (e.g. 127.0.0.1:5000/web/app), one per line, sorted.
The registry cache's strata-cache-<key> tags (one per pushed image) are left
out unless --all is given.`,
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
			if !all {
				tags = slices.DeleteFunc(tags, func(t string) bool { return strings.HasPrefix(t, remotecache.TagPrefix) })
			}
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
	c.Flags().BoolVar(&all, "all", false, "also list the registry cache's strata-cache-<key> tags")
	return c
}
