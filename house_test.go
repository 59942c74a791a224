package strata_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// House rules (issue 7): no package holds more than 30% of the module's
// non-test Go lines, the root compose package stays under 2,000 of them, and
// no non-test Go file is over 600 lines. `go test -run TestHouseSizes -v .`
// prints the figures.
const (
	maxPackageShare = 0.30
	maxComposeLines = 2000
	maxFileLines    = 600
)

func TestHouseSizes(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Dir        string
		GoFiles    []string
		CgoFiles   []string
		// Files excluded by build tags (other OSes) count too.
		IgnoredGoFiles []string
	}
	lines := map[string]int{}
	total := 0
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(append(p.GoFiles, p.CgoFiles...), p.IgnoredGoFiles...) {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			n := bytes.Count(b, []byte("\n"))
			rel := strings.TrimPrefix(p.ImportPath, module+"/") + "/" + f
			if n > maxFileLines {
				t.Errorf("%s has %d lines; the limit is %d: split it by responsibility", rel, n, maxFileLines)
			}
			lines[strings.TrimPrefix(p.ImportPath, module+"/")] += n
			total += n
		}
	}
	names := make([]string, 0, len(lines))
	for n := range lines {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return lines[names[i]] > lines[names[j]] })
	var report strings.Builder
	fmt.Fprintf(&report, "non-test Go lines: %d\n", total)
	for _, n := range names {
		share := float64(lines[n]) / float64(total)
		fmt.Fprintf(&report, "  %-26s %5d  %4.1f%%\n", n, lines[n], 100*share)
		if share > maxPackageShare {
			t.Errorf("%s holds %.1f%% of the non-test Go lines; the limit is %.0f%%", n, 100*share, 100*maxPackageShare)
		}
	}
	t.Log(report.String())
	if n := lines["compose"]; n >= maxComposeLines {
		t.Errorf("the root compose package has %d non-test lines; the limit is %d", n, maxComposeLines)
	}
}
