package main

import (
	"encoding/json"
	"fmt"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/layer"
)

// buildReport is the --json shape of one built spec.
type buildReport struct {
	Spec      string           `json:"spec"`
	Digest    string           `json:"digest"`
	Platforms []platformReport `json:"platforms"`
	Outputs   []string         `json:"outputs,omitempty"` // build only
}

type platformReport struct {
	Platform string        `json:"platform"`
	Digest   string        `json:"digest"`
	Layers   []layerReport `json:"layers"`
	// Plan only:
	Skipped []string               `json:"skipped,omitempty"`
	Changes []compose.ConfigChange `json:"changes,omitempty"`
}

type layerReport struct {
	Name    string        `json:"name"`
	DiffID  string        `json:"diffID"`
	Digest  string        `json:"digest"`
	Size    int64         `json:"size"`
	Entries []layer.Entry `json:"entries,omitempty"` // plan only
}

// report renders a Result in the --json shape; plan adds entries, skipped
// layers and config changes.
func report(path string, res *compose.Result, plan bool) buildReport {
	r := buildReport{Spec: path, Digest: res.Digest.String(), Outputs: []string{}}
	for _, p := range res.Platforms {
		pr := platformReport{Platform: p.Platform.String(), Digest: p.Digest.String(), Layers: []layerReport{}}
		for _, l := range p.Layers {
			lr := layerReport{Name: l.Name, DiffID: l.DiffID.String(), Digest: l.Digest.String(), Size: l.Size}
			if plan {
				lr.Entries = l.Entries
			}
			pr.Layers = append(pr.Layers, lr)
		}
		if plan {
			pr.Skipped = p.Skipped
			pr.Changes = p.Changes
		}
		r.Platforms = append(r.Platforms, pr)
	}
	return r
}

// printWarnings prints each of a build's warnings on stderr, prefixed with
// the spec path.
func printWarnings(a *app, path string, res *compose.Result) {
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "strata: warning: %s: %s\n", path, w)
	}
}

func writeJSON(a *app, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}
