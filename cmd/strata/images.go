package main

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/store"
)

// storeDirs are the flags images and prune share: where the store and the
// cache are.
type storeDirs struct {
	store, cache string
}

func (d *storeDirs) register(c *cobra.Command) {
	c.Flags().StringVar(&d.store, "store", "", "the local store (default $XDG_DATA_HOME/strata/oci or ~/.local/share/strata/oci)")
	c.Flags().StringVar(&d.cache, "cache-dir", "", "the cache (default $XDG_CACHE_HOME/strata or ~/.cache/strata)")
}

// resolve fills in the defaults from the environment.
func (d *storeDirs) resolve(a *app) error {
	if d.store == "" {
		d.store = a.defaultStore()
	}
	if d.cache == "" {
		var err error
		if d.cache, err = a.userDir("XDG_CACHE_HOME", ".cache"); err != nil {
			return usagef("no cache directory: %v; pass --cache-dir", err)
		}
	}
	return nil
}

func (a *app) imagesCmd() *cobra.Command {
	var d storeDirs
	var jsonOut bool
	c := &cobra.Command{
		Use:   "images",
		Short: "List the images of the local store",
		Long: `Images lists the images build wrote to the local store (an OCI layout,
$XDG_DATA_HOME/strata/oci by default), sorted by name: name, digest, size of
everything it holds (blobs shared with other images included) and when it was
last written. Read one with strata inspect oci:STORE:NAME.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := d.resolve(a); err != nil {
				return err
			}
			imgs, err := store.Images(d.store)
			if err != nil {
				return err
			}
			if jsonOut {
				if imgs == nil {
					imgs = []store.Image{}
				}
				return writeJSON(a, imgs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE\tWRITTEN")
			for _, img := range imgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", img.Ref, img.Digest, humanBytes(img.Size), img.Written.Format("2006-01-02 15:04:05Z"))
			}
			return tw.Flush()
		},
	}
	d.register(c)
	c.Flags().BoolVar(&jsonOut, "json", false, "print the images as a JSON array")
	return c
}

// use marks dir (the cache or the store) in use until the command is
// done, so that strata prune leaves it alone meanwhile. Where the lock
// file cannot be made (a read-only parent), the command goes on and says
// so.
func (a *app) use(dir string) {
	release, err := store.Use(dir)
	if err != nil {
		fmt.Fprintf(a.stderr, "strata: warning: %v; strata prune could remove files this command uses\n", err)
		return
	}
	a.releases = append(a.releases, release)
}

// useLayout marks an OCI layout a command writes to in use when it is the
// local store (build --oci STORE, copy to oci:STORE): prune must not
// collect the blobs it has written before they are in index.json.
func (a *app) useLayout(dir string) {
	d, err1 := filepath.Abs(dir)
	st, err2 := filepath.Abs(a.defaultStore())
	if err1 == nil && err2 == nil && d == st {
		a.use(dir)
	}
}
