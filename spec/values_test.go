package spec

import (
	"strings"
	"testing"
)

// TestNormalizeTarget is the target-path table of reliability.md §2.2.
func TestNormalizeTarget(t *testing.T) {
	long := strings.Repeat("a", 256)
	ok255 := strings.Repeat("b", 255)
	tests := []struct {
		in      string
		want    string // when ok
		wantErr string // substring, when not ok
	}{
		{in: "/app/x", want: "app/x"},
		{in: "/usr//bin/./x", want: "usr/bin/x"},
		{in: "//x", want: "x"},
		{in: "/a/./b", want: "a/b"},
		{in: "/a/b/", want: "a/b"},
		{in: "/", want: ""},
		{in: "/.", want: ""},
		{in: "/" + ok255, want: ok255},
		{in: "/ünïcödé/ok", want: "ünïcödé/ok"},
		{in: "/..x/y..", want: "..x/y.."},
		{in: "/a/.whx", want: "a/.whx"},
		{in: "", wantErr: "empty path"},
		{in: "app/x", wantErr: "not absolute"},
		{in: "./app/x", wantErr: "not absolute"},
		{in: ".", wantErr: "not absolute"},
		{in: "..", wantErr: "not absolute"},
		{in: "/..", wantErr: `".." segment`},
		{in: "/a/../b", wantErr: `".." segment`},
		{in: "/a/../../b", wantErr: `".." segment`},
		{in: "/a/..", wantErr: `".." segment`},
		{in: `/a\..\b`, wantErr: "backslash"},
		{in: `C:\x`, wantErr: "not absolute"},
		{in: `/a\b`, wantErr: "backslash"},
		{in: "/a\x00b", wantErr: "control character"},
		{in: "/a\nb", wantErr: "control character"},
		{in: "/a\x7fb", wantErr: "control character"},
		{in: "/a\xffb", wantErr: "UTF-8"},
		{in: "/.wh.foo", wantErr: "reserved for whiteouts"},
		{in: "/etc/.wh..wh..opq", wantErr: "reserved for whiteouts"},
		{in: "/a/.wh.b/c", wantErr: "reserved for whiteouts"},
		{in: "/" + long, wantErr: "component of 256 bytes"},
		{in: "/" + strings.Repeat("a/", 2100), wantErr: "bytes long"},
	}
	for _, tt := range tests {
		got, err := NormalizeTarget(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NormalizeTarget(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeTarget(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestNormalizeFileTarget: the root and directory forms are not file targets.
func TestNormalizeFileTarget(t *testing.T) {
	for _, in := range []string{"/", "//", "/.", "/./", "/a/", "", "a", "/a/../b"} {
		if got, err := NormalizeFileTarget(in); err == nil {
			t.Errorf("NormalizeFileTarget(%q) = %q; want an error", in, got)
		}
	}
	for in, want := range map[string]string{"/a": "a", "/a/./b": "a/b", "//usr/bin//x": "usr/bin/x"} {
		if got, err := NormalizeFileTarget(in); err != nil || got != want {
			t.Errorf("NormalizeFileTarget(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestExpandVars(t *testing.T) {
	vars := map[string]string{"A": "x", "EMPTY": "", "TARGETOS": "darwin"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct {
		in, want     string
		keepPlatform bool
		wantErr      string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "x"},
		{in: "a-${A}-b", want: "a-x-b"},
		{in: "${B:-def}", want: "def"},
		{in: "${EMPTY:-def}", want: "def"},
		{in: "${EMPTY}", want: ""},
		{in: "${A:-def}", want: "x"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "cost $5", want: "cost $5"},
		{in: "end$", want: "end$"},
		{in: "${B:-a:b/c}", want: "a:b/c"},
		{in: "dist/${TARGETOS}_${TARGETARCH}/${TARGETVARIANT}", keepPlatform: true, want: "dist/${TARGETOS}_${TARGETARCH}/${TARGETVARIANT}"},
		{in: "${TARGETOS}", want: "darwin"},
		{in: "${TARGETARCH:-amd64}", keepPlatform: true, want: "amd64"},
		{in: "${B}", wantErr: "undefined variable B"},
		{in: "${A", wantErr: "unterminated"},
		{in: "${}", wantErr: "invalid variable reference"},
		{in: "${A B}", wantErr: "invalid variable reference"},
		{in: "${1A}", wantErr: "invalid variable reference"},
	}
	for _, tt := range tests {
		got, err := expandVars(tt.in, lookup, tt.keepPlatform)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("expandVars(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expandVars(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"entrypoint", "cmd", "env", "workdir", "user", "labels", "ports", "volumes", "stopSignal"}
	for in, want := range map[string]string{
		"entrypiont": "entrypoint", "Env": "env", "stopsignal": "stopSignal", "port": "ports",
		"volume": "volumes", "wrokdir": "workdir", "zzzzzz": "", "cm": "cmd", "x": "",
	} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestValidateInCode: a Spec built in code is validated without positions.
func TestValidateInCode(t *testing.T) {
	s := &Spec{
		Base:   "scratch",
		Layers: []Layer{{Files: []File{{Src: "../x", Dest: "/x"}}}},
		Tags:   []string{"ok", "-bad"},
	}
	got := Validate(s).Error()
	want := `layers[0].files[0].src: "../x" has a ".." segment; sources must stay inside the context directory
tags[1]: invalid tag "-bad"; want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, e.g. v1.2.3 or latest`
	if got != want {
		t.Errorf("Validate:\n%s\nwant:\n%s", got, want)
	}
	good := &Spec{Base: "nginx:1.27-alpine", Tags: []string{"registry.example/a/b:v1", "v1"}, Image: "registry.example/a/b", Semver: "v1.2.3"}
	if errs := Validate(good); len(errs) != 0 {
		t.Errorf("Validate(good) = %v", errs)
	}
}
