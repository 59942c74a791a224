package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// What cmd reads from the environment captured at start: SOURCE_DATE_EPOCH
// and the XDG directories. Nothing below cmd reads the environment.

// maxSourceDateEpoch is the largest mtime an 11-digit octal tar header field
// holds (year 2242).
const maxSourceDateEpoch = 8589934591

// sourceDateEpoch parses SOURCE_DATE_EPOCH strictly: decimal digits only,
// 0..8589934591. Empty means unset (the epoch).
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || strings.TrimLeft(v, "0123456789") != "" || n < 0 || n > maxSourceDateEpoch {
		return time.Time{}, usagef("SOURCE_DATE_EPOCH=%q: want an integer number of seconds from 0 to %d", v, int64(maxSourceDateEpoch))
	}
	return time.Unix(n, 0).UTC(), nil
}

// userDir returns $XDG_VAR/strata, or ~/DEFAULT/strata, from the captured
// environment.
func (a *app) userDir(xdgVar, def string) (string, error) {
	if d := a.env[xdgVar]; d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "strata"), nil
	}
	home := a.env["HOME"]
	if home == "" {
		return "", fmt.Errorf("neither $%s nor $HOME is set", xdgVar)
	}
	return filepath.Join(home, def, "strata"), nil
}

// defaultStore is the OCI layout build writes to without --oci or --tarball.
func (a *app) defaultStore() string {
	d, err := a.userDir("XDG_DATA_HOME", filepath.Join(".local", "share"))
	if err != nil {
		return filepath.Join(".strata", "oci")
	}
	return filepath.Join(d, "oci")
}
