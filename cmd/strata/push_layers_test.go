package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestCLI_PushJSONLayers: push --json reports per layer how the build got
// it and what the push did, and the bytes it reports are the bytes the
// registry received. A split layer with one changed file uploads one part.
func TestCLI_PushJSONLayers(t *testing.T) {
	p, host := cliRegistry(t)
	dir := t.TempDir()
	src := rand.NewChaCha8([32]byte{3})
	var files []string
	for i := range 32 {
		b := make([]byte, 512<<10)
		src.Read(b)
		f := filepath.Join(dir, "site", fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%02d.bin", i))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	specPath := filepath.Join(dir, "image.yaml")
	writeFiles(t, dir, map[string]string{"image.yaml": fmt.Sprintf(`base: scratch
layers:
  - name: site
    split: auto
    files: [{src: "site/**", dest: /srv/}]
image: %s/web/site
tags: [v1]
`, host)})
	cache := filepath.Join(dir, "cache")

	type report struct {
		Images []struct {
			Layers []pushedLayer `json:"layers"`
		} `json:"images"`
		BytesUploaded int64 `json:"bytesUploaded"`
	}
	push := func() (report, int64) {
		t.Helper()
		p.ResetLog()
		code, out, errOut := runCLI(t, "push", "--json", "--sbom=false", "--provenance=false", "--cache-dir", cache, specPath)
		if code != 0 {
			t.Fatalf("push: exit %d\n%s", code, errOut)
		}
		var r report
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Images) != 1 {
			t.Fatalf("report %s: %v", out, err)
		}
		var in int64
		for _, e := range p.Log() {
			if e.Method == "PATCH" || e.Method == "PUT" && e.BytesIn > 0 {
				in += e.BytesIn
			}
		}
		return r, in
	}
	count := func(ls []pushedLayer, build, push string) int {
		n := 0
		for _, l := range ls {
			if l.Build == build && l.Push == push {
				n++
			}
		}
		return n
	}

	r, _ := push()
	ls := r.Images[0].Layers
	if len(ls) < 3 || count(ls, "built", "uploaded") != len(ls) {
		t.Fatalf("first push: want every part built and uploaded: %+v", ls)
	}
	var total int64
	for _, l := range ls {
		if l.BytesUploaded != l.Size || l.Size == 0 {
			t.Errorf("%s: %d bytes uploaded of %d", l.Name, l.BytesUploaded, l.Size)
		}
		total += l.Size
	}

	r, in := push()
	if ls := r.Images[0].Layers; count(ls, "cached", "skipped") != len(ls) || r.BytesUploaded != 0 || in != 0 {
		t.Errorf("no-op push: %+v, %d bytes reported, %d received", ls, r.BytesUploaded, in)
	}

	b, err := os.ReadFile(files[11])
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 1
	if err := os.WriteFile(files[11], b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, in = push()
	ls = r.Images[0].Layers
	if count(ls, "built", "uploaded") != 1 || count(ls, "cached", "skipped") != len(ls)-1 {
		t.Errorf("one file changed: want one part built and uploaded, the others cached and skipped: %+v", ls)
	}
	var layerBytes int64
	for _, l := range ls {
		layerBytes += l.BytesUploaded
	}
	// The registry received that part and the config, nothing more.
	if in < layerBytes || in > layerBytes+4096 || layerBytes*2 > total {
		t.Errorf("one file changed: %d layer bytes reported, %d received, of %d", layerBytes, in, total)
	}
}
