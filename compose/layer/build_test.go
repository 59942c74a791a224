package layer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/strata-build/strata/spec"
)

// fixtureTree is the context most table tests build from.
var fixtureTree = []tfile{
	{path: "public/index.html", content: "<h1>hi</h1>"},
	{path: "public/css/site.css", content: "body{}"},
	{path: "public/app.js.map", content: "map"},
	{path: "public/empty", dir: true},
	{path: "bin/app", content: "ELF", mode: 0o700},
	{path: "bin/tool", content: "tool", mode: 0o6755},
	{path: "dist/linux_amd64/server", content: "amd64", mode: 0o755},
	{path: "dist/linux_arm64/server", content: "arm64", mode: 0o755},
	{path: "conf/a.conf", content: "a"},
	{path: "conf/b.conf", content: "b"},
	{path: "conf/sub/c.conf", content: "c"},
	{path: "top.txt", content: "top"},
}

func TestBuildLayerDestMapping(t *testing.T) {
	tests := []struct {
		name  string
		files []spec.File
		want  []string
	}{
		{
			name:  "doublestar keeps paths relative to the static prefix",
			files: []spec.File{{Src: "public/**", Dest: "/html/"}},
			want: []string{
				"html/app.js.map file 0644 0:0 =map",
				"html/css/site.css file 0644 0:0 =body{}",
				"html/empty/ dir 0755 0:0",
				"html/index.html file 0644 0:0 =<h1>hi</h1>",
			},
		},
		{
			name:  "plain dir means its whole tree",
			files: []spec.File{{Src: "public", Dest: "/html/", Exclude: []string{"**/*.map"}}},
			want: []string{
				"html/css/site.css file 0644 0:0 =body{}",
				"html/empty/ dir 0755 0:0",
				"html/index.html file 0644 0:0 =<h1>hi</h1>",
			},
		},
		{
			name:  "plain dir without trailing slash is renamed to dest",
			files: []spec.File{{Src: "conf", Dest: "/etc/app"}},
			want: []string{
				"etc/app/a.conf file 0644 0:0 =a",
				"etc/app/b.conf file 0644 0:0 =b",
				"etc/app/sub/c.conf file 0644 0:0 =c",
			},
		},
		{
			name:  "plain file keeps its base name",
			files: []spec.File{{Src: "bin/app", Dest: "/usr/local/bin/"}},
			want:  []string{"usr/local/bin/app file 0755 0:0 =ELF"},
		},
		{
			name:  "no trailing slash renames the one match",
			files: []spec.File{{Src: "dist/${TARGETOS}_${TARGETARCH}/server", Dest: "/usr/local/bin/srv"}},
			want:  []string{"usr/local/bin/srv file 0755 0:0 =amd64"},
		},
		{
			name:  "single-star glob at the top",
			files: []spec.File{{Src: "*.txt", Dest: "/data/"}},
			want:  []string{"data/top.txt file 0644 0:0 =top"},
		},
		{
			name:  "matched directories bring their tree",
			files: []spec.File{{Src: "conf/*", Dest: "/etc/"}},
			want: []string{
				"etc/a.conf file 0644 0:0 =a",
				"etc/b.conf file 0644 0:0 =b",
				"etc/sub/c.conf file 0644 0:0 =c",
			},
		},
		{
			name:  "exclude a directory skips its tree",
			files: []spec.File{{Src: "conf/**", Dest: "/etc/", Exclude: []string{"conf/sub"}}},
			want: []string{
				"etc/a.conf file 0644 0:0 =a",
				"etc/b.conf file 0644 0:0 =b",
			},
		},
		{
			name:  "brace alternatives",
			files: []spec.File{{Src: "conf/{a,b}.conf", Dest: "/etc/"}},
			want: []string{
				"etc/a.conf file 0644 0:0 =a",
				"etc/b.conf file 0644 0:0 =b",
			},
		},
		{
			name:  "dest / puts matches at the root",
			files: []spec.File{{Src: "conf/*.conf", Dest: "/"}},
			want: []string{
				"a.conf file 0644 0:0 =a",
				"b.conf file 0644 0:0 =b",
			},
		},
		{
			name:  "parents of added paths are not emitted (base keeps /tmp 1777, /lib symlink)",
			files: []spec.File{{Src: "top.txt", Dest: "/tmp/x"}, {Src: "conf/a.conf", Dest: "/lib/y/"}},
			want: []string{
				"lib/y/a.conf file 0644 0:0 =a",
				"tmp/x file 0644 0:0 =top",
			},
		},
		{
			name:  "optional glob matching nothing adds nothing",
			files: []spec.File{{Src: "nope/**", Dest: "/x/", Optional: true}, {Src: "top.txt", Dest: "/t"}},
			want:  []string{"t file 0644 0:0 =top"},
		},
		{
			name:  "the same file matched by two globs is added once",
			files: []spec.File{{Src: "conf/*.conf", Dest: "/etc/"}, {Src: "conf/a.*", Dest: "/etc/"}},
			want: []string{
				"etc/a.conf file 0644 0:0 =a",
				"etc/b.conf file 0644 0:0 =b",
			},
		},
	}
	env := newEnv(t, fixtureTree)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bl := env.build(t, spec.Layer{Files: tc.files})
			diffLines(t, summary(readLayer(t, bl)), tc.want)
		})
	}
}

func TestBuildLayerModesOwners(t *testing.T) {
	tests := []struct {
		name string
		file spec.File
		want []string
	}{
		{"exec bit gives 0755", spec.File{Src: "bin/app", Dest: "/b/"}, []string{"b/app file 0755 0:0 =ELF"}},
		{"setuid/setgid stripped by default", spec.File{Src: "bin/tool", Dest: "/b/"}, []string{"b/tool file 0755 0:0 =tool"}},
		{"no exec bit gives 0644", spec.File{Src: "top.txt", Dest: "/t"}, []string{"t file 0644 0:0 =top"}},
		{"explicit mode with special bits", spec.File{Src: "bin/tool", Dest: "/b/", Mode: "4750"}, []string{"b/tool file 4750 0:0 =tool"}},
		{"explicit mode applies to files, dirs stay 0755", spec.File{Src: "public/**", Dest: "/h/", Mode: "0600", Owner: "101:102", Exclude: []string{"**/*.{map,html}"}},
			[]string{"h/css/site.css file 0600 101:102 =body{}", "h/empty/ dir 0755 101:102"}},
		{"owner", spec.File{Src: "top.txt", Dest: "/t", Owner: "65534:65535"}, []string{"t file 0644 65534:65535 =top"}},
	}
	env := newEnv(t, fixtureTree)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bl := env.build(t, spec.Layer{Files: []spec.File{tc.file}})
			diffLines(t, summary(readLayer(t, bl)), tc.want)
		})
	}
}

func TestBuildLayerDeclared(t *testing.T) {
	env := newEnv(t, fixtureTree)
	bl := env.build(t, spec.Layer{
		Files:    []spec.File{{Src: "bin/app", Dest: "/opt/app/bin/"}},
		Dirs:     []spec.Dir{{Path: "/var/cache/app", Mode: "0750", Owner: "101:101"}, {Path: "/opt/app"}, {Path: "/tmp/x", Mode: "1777"}},
		Symlinks: []spec.Symlink{{Path: "/usr/local/bin/app", Target: "/opt/app/bin/app"}, {Path: "/opt/app/current", Target: "bin", Owner: "5:6"}},
	})
	diffLines(t, summary(readLayer(t, bl)), []string{
		"opt/app/ dir 0755 0:0",
		"opt/app/bin/app file 0755 0:0 =ELF",
		"opt/app/current symlink 0777 5:6 ->bin",
		"tmp/x/ dir 1777 0:0",
		"usr/local/bin/app symlink 0777 0:0 ->/opt/app/bin/app",
		"var/cache/app/ dir 0750 101:101",
	})
	var got []string
	for _, e := range bl.Entries {
		got = append(got, e.Target+" "+e.Type+" "+e.Mode+" "+e.Owner+" "+e.Source+" "+e.Link)
	}
	diffLines(t, got, []string{
		"/opt/app dir 0755 0:0 spec ",
		"/opt/app/bin/app file 0755 0:0 bin/app ",
		"/opt/app/current symlink 0777 5:6 spec bin",
		"/tmp/x dir 1777 0:0 spec ",
		"/usr/local/bin/app symlink 0777 0:0 spec /opt/app/bin/app",
		"/var/cache/app dir 0750 101:101 spec ",
	})
}

func TestBuildLayerEmpty(t *testing.T) {
	env := newEnv(t, fixtureTree)
	bl := env.build(t, spec.Layer{Name: "nothing", Files: []spec.File{{Src: "nope/*", Dest: "/x/", Optional: true}}})
	if bl.Layer != nil || len(bl.Entries) != 0 || bl.Name != "nothing" {
		t.Fatalf("got %+v, want an empty layer named nothing", bl)
	}
	if got := env.storeFiles(t); len(got) != 0 {
		t.Errorf("store has %v, want nothing", got)
	}
}

func TestBuildLayerDeepLongPaths(t *testing.T) {
	var parts []string
	for i := 0; i < 45; i++ {
		parts = append(parts, fmt.Sprintf("%02d-%s", i, strings.Repeat("d", 60)))
	}
	deep := strings.Join(parts, "/") // ~2.9 kB, 45 levels
	long := strings.Repeat("x", 255) // longest component
	env := newEnv(t, []tfile{{path: deep + "/" + long, content: "deep"}})
	bl := env.build(t, spec.Layer{Files: []spec.File{{Src: "**", Dest: "/"}}})
	es := readLayer(t, bl)
	if len(es) != 1 || es[0].hdr.Name != deep+"/"+long || es[0].content != "deep" {
		t.Fatalf("got %d entries, first %q", len(es), es[0].hdr.Name)
	}
	if es[0].hdr.PAXRecords["path"] == "" {
		t.Errorf("long name written without a PAX path record: %+v", es[0].hdr)
	}
}

// TestBuildLayerConcurrent builds the same layer from several goroutines
// into one store, as Build does for platforms: same digests, one blob.
func TestBuildLayerConcurrent(t *testing.T) {
	env := newEnv(t, fixtureTree)
	l := spec.Layer{Files: []spec.File{{Src: "**", Dest: "/app/"}}}
	var wg sync.WaitGroup
	digests := make([]string, 6)
	for i := range digests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bl, err := Build(context.Background(), env.request(l))
			if err != nil {
				t.Error(err)
				return
			}
			d, _ := bl.Layer.Digest()
			digests[i] = d.String()
		}()
	}
	wg.Wait()
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Fatalf("digests differ: %v", digests)
		}
	}
	var blobs, tmp int
	for _, f := range env.storeFiles(t) {
		switch {
		case strings.HasPrefix(f, "blobs/"):
			blobs++
		case strings.HasPrefix(f, "tmp/"), strings.Contains(f, ".tmp-"):
			tmp++
		}
	}
	if blobs != 1 || tmp != 0 {
		t.Errorf("store has %d blobs and %d temp files, want 1 and 0: %v", blobs, tmp, env.storeFiles(t))
	}
}
