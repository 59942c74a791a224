package diff_test

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readMtree parses the mtree manifest umoci writes next to an unpacked
// rootfs (go-mtree's hierarchical format: "/set" defaults, one line per
// entry, directories descend until ".."). It returns, for every path below
// the root ("/usr/bin/x"), its keywords as one comparable string. Kept:
// type, mode, uid, gid, link, sha256digest and, for non-directories,
// tar_time; directories' times and sizes are left out, since umoci stamps
// implicit parent directories with the time of the unpack.
func readMtree(t *testing.T, bundle string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(bundle, "*.mtree"))
	if err != nil || len(files) != 1 {
		t.Fatalf("umoci bundle %s: want one .mtree file, got %v (%v)", bundle, files, err)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	set := map[string]string{}
	var dirs []string // the current directory, as a stack of names
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch fields[0] {
		case "/set":
			for _, kv := range fields[1:] {
				k, v, _ := strings.Cut(kv, "=")
				set[k] = v
			}
			continue
		case "/unset":
			for _, k := range fields[1:] {
				delete(set, k)
			}
			continue
		case "..":
			dirs = dirs[:len(dirs)-1]
			continue
		}
		kw := map[string]string{}
		for k, v := range set {
			kw[k] = v
		}
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, "=")
			kw[k] = v
		}
		p := "/" + path.Join(append(slices.Clone(dirs), fields[0])...)
		if kw["type"] == "dir" {
			dirs = append(dirs, fields[0])
		}
		if fields[0] == "." {
			continue
		}
		p = path.Clean(strings.ReplaceAll(p, "/./", "/"))
		keep := []string{"type", "mode", "uid", "gid", "link", "sha256digest"}
		if kw["type"] != "dir" {
			keep = append(keep, "tar_time")
		}
		var desc []string
		for _, k := range keep {
			desc = append(desc, k+"="+kw[k])
		}
		out[p] = strings.Join(desc, " ")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// mtreeDiff returns the sorted paths whose mtree entries differ or exist on
// one side only.
func mtreeDiff(a, b map[string]string) []string {
	var out []string
	for p, x := range a {
		if y, ok := b[p]; !ok || x != y {
			out = append(out, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
