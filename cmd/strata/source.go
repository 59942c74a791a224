package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-build/strata/compose/provenance"
)

// buildSource finds the source repository and revision provenance records:
// the flags first, then the usual CI variables, then the git metadata files
// of the repository holding specDir (read as files: git is never run).
func buildSource(env map[string]string, uri, rev, specDir string) provenance.Source {
	s := provenance.Source{URI: uri, Revision: rev}
	fill := func(u, r string) {
		if s.URI == "" && u != "" {
			s.URI = u
		}
		if s.Revision == "" {
			s.Revision = r
		}
	}
	if env["GITHUB_REPOSITORY"] != "" {
		server := env["GITHUB_SERVER_URL"]
		if server == "" {
			server = "https://github.com"
		}
		fill(server+"/"+env["GITHUB_REPOSITORY"], env["GITHUB_SHA"])
	}
	fill(env["CI_PROJECT_URL"], env["CI_COMMIT_SHA"])    // GitLab
	fill(env["BUILDKITE_REPO"], env["BUILDKITE_COMMIT"]) // Buildkite
	if s.URI == "" || s.Revision == "" {
		fill(readGit(specDir))
	}
	if s.URI != "" && !strings.Contains(s.URI, "+") && (strings.HasPrefix(s.URI, "https://") || strings.HasPrefix(s.URI, "ssh://")) {
		s.URI = "git+" + s.URI
	}
	return s
}

// readGit returns the origin URL and HEAD commit of the git repository
// holding dir, reading .git (a directory, or a file pointing at a worktree's
// git directory), HEAD, refs, packed-refs and config.
func readGit(dir string) (uri, rev string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", ""
	}
	var gitDir string
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, ".git")
		if fi, err := os.Stat(p); err == nil {
			if fi.IsDir() {
				gitDir = p
			} else if b, err := os.ReadFile(p); err == nil {
				g := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "gitdir:"))
				if !filepath.IsAbs(g) {
					g = filepath.Join(d, g)
				}
				gitDir = g
			}
			break
		}
		if filepath.Dir(d) == d {
			return "", ""
		}
	}
	if gitDir == "" {
		return "", ""
	}
	common := gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		c := strings.TrimSpace(string(b))
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitDir, c)
		}
		common = c
	}
	if b, err := os.ReadFile(filepath.Join(gitDir, "HEAD")); err == nil {
		head := strings.TrimSpace(string(b))
		if ref, ok := strings.CutPrefix(head, "ref: "); ok {
			rev = readRef(gitDir, common, ref)
		} else {
			rev = head
		}
	}
	return originURL(common), rev
}

// readRef resolves a ref from loose ref files or packed-refs.
func readRef(gitDir, common, ref string) string {
	for _, d := range []string{gitDir, common} {
		if b, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(ref))); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	f, err := os.Open(filepath.Join(common, "packed-refs"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if h, r, ok := strings.Cut(sc.Text(), " "); ok && r == ref {
			return h
		}
	}
	return ""
}

// originURL reads remote "origin"'s url from a git config file.
func originURL(common string) string {
	f, err := os.Open(filepath.Join(common, "config"))
	if err != nil {
		return ""
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = line == `[remote "origin"]`
			continue
		}
		if k, v, ok := strings.Cut(line, "="); in && ok && strings.TrimSpace(k) == "url" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
