package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/strata-build/strata/compose/registry"
)

// TestProgress_Plain: off a terminal, one line per finished blob and
// manifest, nothing for in-flight bytes.
func TestProgress_Plain(t *testing.T) {
	var errb bytes.Buffer
	a := &app{stderr: &errb}
	f, done := a.pushProgress(&errb, false)
	f(registry.PushEvent{Kind: "blob", Repo: "r/a", Digest: "sha256:0123456789abcdef0123", Size: 2048, Done: 1024, Status: "uploading"})
	f(registry.PushEvent{Kind: "blob", Repo: "r/a", Digest: "sha256:0123456789abcdef0123", Size: 2048, Done: 2048, Status: "uploaded"})
	f(registry.PushEvent{Kind: "blob", Repo: "r/a", Digest: "sha256:fedcba9876543210fedc", Size: 3 << 20, Status: "mounted"})
	f(registry.PushEvent{Kind: "manifest", Repo: "r/a", Digest: "sha256:aaaaaaaaaaaaaaaaaaaa", Status: "pushed"})
	done()
	want := "strata: r/a: blob sha256:0123456789ab uploaded (2.0 KiB)\n" +
		"strata: r/a: blob sha256:fedcba987654 mounted (3.0 MiB)\n" +
		"strata: r/a: manifest sha256:aaaaaaaaaaaa pushed\n"
	if errb.String() != want {
		t.Errorf("got\n%s\nwant\n%s", errb.String(), want)
	}
}

// TestProgress_Bars: the bar renderer takes concurrent-looking event streams
// (including a blob that never finishes) and returns.
func TestProgress_Bars(t *testing.T) {
	var out bytes.Buffer
	f, done := barProgress(&out)
	for i := int64(0); i <= 4; i++ {
		f(registry.PushEvent{Kind: "blob", Repo: "r/a", Digest: "sha256:1111111111111111", Size: 4096, Done: i * 1024, Status: "uploading"})
	}
	f(registry.PushEvent{Kind: "blob", Repo: "r/a", Digest: "sha256:1111111111111111", Size: 4096, Done: 4096, Status: "uploaded"})
	f(registry.PushEvent{Kind: "blob", Repo: "r/a", Digest: "sha256:2222222222222222", Size: 4096, Done: 10, Status: "uploading"})
	f(registry.PushEvent{Kind: "blob", Repo: "r/a", Digest: "sha256:3333333333333333", Size: 1, Status: "skipped"})
	done()
	if !strings.Contains(out.String(), "sha256:111111111") {
		t.Errorf("no bar drawn:\n%q", out.String())
	}
}
