package compose

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/spec"
)

func TestMergeConfig(t *testing.T) {
	base := v1.Config{
		Entrypoint:   []string{"/docker-entrypoint.sh"},
		Cmd:          []string{"nginx", "-g", "daemon off;"},
		Env:          []string{"PATH=/usr/bin", "NGINX_VERSION=1.27", "NOEQ"},
		WorkingDir:   "/srv",
		User:         "0",
		Labels:       map[string]string{"maintainer": "base", "keep": "x"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
		StopSignal:   "SIGQUIT",
	}
	tests := []struct {
		name string
		c    spec.Config
		want func(c *v1.Config)
	}{
		{"empty spec keeps everything", spec.Config{}, func(c *v1.Config) {}},
		{"entrypoint clears cmd", spec.Config{Entrypoint: []string{"/app"}}, func(c *v1.Config) {
			c.Entrypoint = []string{"/app"}
			c.Cmd = nil
		}},
		{"entrypoint with cmd keeps the given cmd", spec.Config{Entrypoint: []string{"/app"}, Cmd: []string{"serve"}}, func(c *v1.Config) {
			c.Entrypoint = []string{"/app"}
			c.Cmd = []string{"serve"}
		}},
		{"cmd alone keeps entrypoint", spec.Config{Cmd: []string{"x"}}, func(c *v1.Config) { c.Cmd = []string{"x"} }},
		{"empty cmd clears cmd", spec.Config{Cmd: []string{}}, func(c *v1.Config) { c.Cmd = []string{} }},
		{"env merged by key, base order kept, new keys sorted", spec.Config{Env: map[string]string{"ZED": "1", "PATH": "/app:/usr/bin", "ALPHA": "a=b"}}, func(c *v1.Config) {
			c.Env = []string{"PATH=/app:/usr/bin", "NGINX_VERSION=1.27", "NOEQ", "ALPHA=a=b", "ZED=1"}
		}},
		{"scalars replaced", spec.Config{Workdir: "/app", User: "101:101", StopSignal: "SIGTERM"}, func(c *v1.Config) {
			c.WorkingDir, c.User, c.StopSignal = "/app", "101:101", "SIGTERM"
		}},
		{"labels merged", spec.Config{Labels: map[string]string{"maintainer": "me", "new": "y"}}, func(c *v1.Config) {
			c.Labels = map[string]string{"maintainer": "me", "keep": "x", "new": "y"}
		}},
		{"ports and volumes added", spec.Config{Ports: []string{"8080", "53/udp"}, Volumes: []string{"/cache"}}, func(c *v1.Config) {
			c.ExposedPorts = map[string]struct{}{"80/tcp": {}, "8080/tcp": {}, "53/udp": {}}
			c.Volumes = map[string]struct{}{"/data": {}, "/cache": {}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base
			want.Env = append([]string(nil), base.Env...)
			tt.want(&want)
			got := mergeConfig(base, tt.c)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("mergeConfig:\n got %+v\nwant %+v", got, want)
			}
		})
	}
	// The base config is never modified.
	if base.Labels["maintainer"] != "base" || len(base.ExposedPorts) != 1 || base.Env[0] != "PATH=/usr/bin" {
		t.Errorf("base config was modified: %+v", base)
	}
}

func TestMergeConfigOnEmptyBase(t *testing.T) {
	got := mergeConfig(v1.Config{}, spec.Config{Env: map[string]string{"B": "2", "A": "1"}, Labels: map[string]string{"l": "v"}, Ports: []string{"80/tcp"}})
	want := v1.Config{
		Env:          []string{"A=1", "B=2"},
		Labels:       map[string]string{"l": "v"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDiffConfig(t *testing.T) {
	base := &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: v1.Config{
		Cmd: []string{"sh"}, Env: []string{"PATH=/bin", "GONE=1"}, Labels: map[string]string{"a": "1"},
	}}
	cur := &v1.ConfigFile{OS: "linux", Architecture: "amd64", Config: v1.Config{
		Entrypoint: []string{"/app"}, Env: []string{"PATH=/bin:/app", "NEW=x"}, Labels: map[string]string{"a": "1", "b": "2"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "443/tcp": {}},
	}}
	got := diffConfig(base, cur)
	want := []ConfigChange{
		{Field: "entrypoint", Base: "", New: `["/app"]`},
		{Field: "cmd", Base: `["sh"]`, New: ""},
		{Field: "env.GONE", Base: "1", New: ""},
		{Field: "env.NEW", Base: "", New: "x"},
		{Field: "env.PATH", Base: "/bin", New: "/bin:/app"},
		{Field: "labels.b", Base: "", New: "2"},
		{Field: "ports", Base: "", New: `["443/tcp","80/tcp"]`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diffConfig:\n got %+v\nwant %+v", got, want)
	}
}

// TestDiffConfigEmptyValues: a key set to "" is a change, shown as `""`, not
// as unset (the build writes PATH= and NEW=).
func TestDiffConfigEmptyValues(t *testing.T) {
	base := &v1.ConfigFile{Config: v1.Config{Env: []string{"PATH=/usr/bin"}, Labels: map[string]string{"keep": ""}}}
	cur := &v1.ConfigFile{Config: v1.Config{Env: []string{"PATH=", "NEW="}, Labels: map[string]string{"keep": "", "empty": ""}}}
	got := diffConfig(base, cur)
	want := []ConfigChange{
		{Field: "env.NEW", Base: "", New: `""`},
		{Field: "env.PATH", Base: "/usr/bin", New: `""`},
		{Field: "labels.empty", Base: "", New: `""`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diffConfig:\n got %+v\nwant %+v", got, want)
	}
}
