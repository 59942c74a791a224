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
		Long: `Tags prints the tags of a registry repository (e.g. 127.0.0.1:5000/web/app),
of an OCI layout (oci:DIR, such as the local store: its ref names) or of a
docker archive (docker-archive:FILE), one per line, sorted. Referrers tags
(sha256-HEX: where a registry lacks the OCI referrers API, the index listing
the SBOMs, provenance and signatures attached to an image) and the registry
cache's strata-cache-<key> tags (one per pushed image) are not image tags and
are left out unless --all is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.transportConfig(&f)
			if err != nil {
				return err
			}
			ctx, cancel := f.withTimeout(cmd.Context())
			defer cancel()
			if isLocalImage(args[0]) {
				loc, err := registry.ParseLocation(args[0], cfg)
				if err != nil {
					return usagef("%q: %v", args[0], err)
				}
				tags, err := registry.LocalTags(ctx, loc, registry.InspectOptions{})
				if err != nil {
					return err
				}
				return a.printTags(args[0], tags, jsonOut)
			}
			repo, err := cfg.ParseRepository(args[0])
			if err != nil {
				return usagef("repository %q: %v", args[0], err)
			}
			tags, err := registry.ListTags(ctx, repo, cfg)
			if err != nil {
				return redacted(err, &f)
			}
			if !all {
				tags = slices.DeleteFunc(tags, func(t string) bool {
					return isReferrersTag(t) || strings.HasPrefix(t, remotecache.TagPrefix)
				})
			}
			return a.printTags(repo.Name(), tags, jsonOut)
		},
	}
	f.register(c)
	c.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	c.Flags().BoolVar(&all, "all", false, "also list the registry cache's strata-cache-<key> tags")
	return c
}

// isLocalImage reports whether arg names a local image location.
func isLocalImage(arg string) bool {
	return strings.HasPrefix(arg, "oci:") || strings.HasPrefix(arg, "docker-archive:")
}

// printTags prints tags one per line, or as JSON.
func (a *app) printTags(repo string, tags []string, jsonOut bool) error {
	if jsonOut {
		if tags == nil {
			tags = []string{}
		}
		return writeJSON(a, map[string]any{"repository": repo, "tags": tags})
	}
	for _, t := range tags {
		fmt.Fprintln(a.stdout, t)
	}
	return nil
}

// isReferrersTag reports whether t is a tag of the OCI referrers tag schema
// (sha256-HEX).
func isReferrersTag(t string) bool {
	hex, ok := strings.CutPrefix(t, "sha256-")
	return ok && len(hex) == 64 && strings.Trim(hex, "0123456789abcdef") == ""
}
