package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-build/strata/compose/provenance"
)

func writeGitFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const commit = "0123456789abcdef0123456789abcdef01234567"

// TestBuildSource: flags win over CI variables, which win over .git files;
// .git is read as a directory (loose or packed refs) or as a worktree's
// gitdir file, never by running git.
func TestBuildSource(t *testing.T) {
	repo := t.TempDir()
	writeGitFiles(t, repo, map[string]string{
		".git/HEAD":            "ref: refs/heads/main\n",
		".git/refs/heads/main": commit + "\n",
		".git/config":          "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://example.com/org/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
		"deploy/image.yaml":    "base: scratch\n",
	})
	spec := filepath.Join(repo, "deploy")
	want := provenance.Source{URI: "git+https://example.com/org/app.git", Revision: commit}
	if got := buildSource(nil, "", "", spec); got != want {
		t.Errorf(".git directory: %+v, want %+v", got, want)
	}
	if got := buildSource(nil, "https://flag.example/x", "abc", spec); got != (provenance.Source{URI: "git+https://flag.example/x", Revision: "abc"}) {
		t.Errorf("flags: %+v", got)
	}
	env := map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "org/app", "GITHUB_SHA": "feed"}
	if got := buildSource(env, "", "", spec); got != (provenance.Source{URI: "git+https://github.com/org/app", Revision: "feed"}) {
		t.Errorf("GitHub Actions: %+v", got)
	}

	// A worktree: .git is a file naming the worktree's git directory,
	// whose commondir holds config and packed refs.
	wt := t.TempDir()
	main := filepath.Join(wt, "main.git")
	writeGitFiles(t, wt, map[string]string{
		"main.git/config":                "[remote \"origin\"]\n\turl = ssh://git@example.com/org/app\n",
		"main.git/packed-refs":           "# pack-refs with: peeled fully-peeled sorted\n" + commit + " refs/heads/topic\n",
		"main.git/worktrees/w/HEAD":      "ref: refs/heads/topic\n",
		"main.git/worktrees/w/commondir": "../..\n",
		"w/.git":                         "gitdir: " + filepath.Join(main, "worktrees", "w") + "\n",
	})
	if got := buildSource(nil, "", "", filepath.Join(wt, "w")); got != (provenance.Source{URI: "git+ssh://git@example.com/org/app", Revision: commit}) {
		t.Errorf("worktree: %+v", got)
	}
}
