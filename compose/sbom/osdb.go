package sbom

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
)

type debugModule = debug.Module

// Package database paths, without a leading "/".
const (
	dpkgStatus   = "var/lib/dpkg/status"
	dpkgStatusD  = "var/lib/dpkg/status.d"
	apkInstalled = "lib/apk/db/installed"
)

// osPackages parses the package databases found in the image.
func osPackages(dbs map[string][]byte) ([]Package, error) {
	var out []Package
	paths := make([]string, 0, len(dbs))
	for p := range dbs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		var pkgs []Package
		var err error
		if p == apkInstalled {
			pkgs, err = parseAPK(dbs[p])
		} else {
			// status lists every package dpkg knows of, installed or
			// not; status.d files (distroless) hold installed ones only.
			pkgs, err = parseDpkg(dbs[p], p == dpkgStatus)
		}
		if err != nil {
			return nil, fmt.Errorf("sbom: reading /%s: %w", p, err)
		}
		out = append(out, pkgs...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Arch < b.Arch
	})
	// The same package in status and status.d is listed once.
	uniq := out[:0]
	for i, p := range out {
		if i == 0 || p != out[i-1] {
			uniq = append(uniq, p)
		}
	}
	return uniq, nil
}

// stanzas splits an RFC 822-style database into field maps; continuation
// lines (starting with a space or tab) are dropped, as no field read here
// spans lines.
func stanzas(b []byte, sep func(line string) (string, string, bool)) ([]map[string]string, error) {
	var out []map[string]string
	cur := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = map[string]string{}
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := sep(line)
		if !ok {
			continue
		}
		cur[k] = v
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, sc.Err()
}

func parseDpkg(b []byte, needStatus bool) ([]Package, error) {
	st, err := stanzas(b, func(line string) (string, string, bool) {
		k, v, ok := strings.Cut(line, ":")
		return k, strings.TrimSpace(v), ok
	})
	if err != nil {
		return nil, err
	}
	var out []Package
	for _, s := range st {
		if s["Package"] == "" {
			continue
		}
		if status, ok := s["Status"]; (needStatus || ok) && !strings.HasSuffix(status, " installed") {
			continue
		}
		src, _, _ := strings.Cut(s["Source"], " ") // "name (version)"
		out = append(out, Package{Type: "deb", Name: s["Package"], Version: s["Version"], Arch: s["Architecture"], Source: src})
	}
	return out, nil
}

func parseAPK(b []byte) ([]Package, error) {
	st, err := stanzas(b, func(line string) (string, string, bool) {
		if len(line) < 2 || line[1] != ':' {
			return "", "", false
		}
		return line[:1], line[2:], true
	})
	if err != nil {
		return nil, err
	}
	var out []Package
	for _, s := range st {
		if s["P"] == "" {
			continue
		}
		out = append(out, Package{Type: "apk", Name: s["P"], Version: s["V"], Arch: s["A"], Source: s["o"], License: s["L"]})
	}
	return out, nil
}
