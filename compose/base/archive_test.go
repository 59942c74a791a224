package base

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/fixture"
)

// tarBytes builds a small uncompressed layer tar from name → content.
func tarBytes(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		body := []byte(files[i+1])
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeDockerSave writes an archive the way `docker save` does: uncompressed
// layer tars, a config and manifest.json. badDiffID corrupts the config.
func writeDockerSave(t testing.TB, path string, badDiffID bool) []string {
	t.Helper()
	layers := [][]byte{
		tarBytes(t, "etc/motd", "hello\n", "etc/os-release", "ID=test\n"),
		tarBytes(t, "usr/share/doc/readme", strings.Repeat("strata ", 500)),
	}
	var diffIDs []string
	for _, l := range layers {
		diffIDs = append(diffIDs, "sha256:"+sha(l))
	}
	if badDiffID {
		diffIDs[1] = "sha256:" + sha([]byte("something else"))
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{"Env": []string{"PATH=/usr/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cfgName := sha(cfg) + ".json"
	var names []string
	for _, l := range layers {
		names = append(names, sha(l)+"/layer.tar")
	}
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"example.com/saved:v1"}, "Layers": names}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
		tw.Write(b)
	}
	add(cfgName, cfg)
	for i, l := range layers {
		add(names[i], l)
	}
	add("manifest.json", man)
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return diffIDs
}

// `docker save` archives store layers uncompressed; strata compresses them
// once with its pinned compressor, so the base's digest is the same on every
// machine and toolchain (golden below) and the compressed blobs are cached.
func TestBaseDockerSaveArchive(t *testing.T) {
	// Golden: changes only when the pinned compressor (pgzip version, level,
	// block size) or the manifest encoding changes.
	const golden = "sha256:7827dc8dde0248a152c80bcdd9174ddd2285fa6f2f50814b7909f001381391c6"
	dir := t.TempDir()
	p := filepath.Join(dir, "saved.tar")
	diffIDs := writeDockerSave(t, p, false)
	gz := filepath.Join(dir, "saved.tar.gz")
	fixture.GzipFile(t, p, gz)
	cache := t.TempDir()
	o := resolver{cacheDir: cache}
	var first v1.Hash
	for i, src := range []string{p, p, gz} {
		rb, err := resolveBase(context.Background(), "docker-archive:"+src, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		pb := rb.Platforms[0]
		if i == 0 {
			first = pb.Digest
		} else if pb.Digest != first {
			t.Errorf("%s: digest %s, first run gave %s", src, pb.Digest, first)
		}
		if err := validate.Image(pb.Image); err != nil {
			t.Errorf("%s: %v", src, err)
		}
		ls, _ := pb.Image.Layers()
		for j, l := range ls {
			if _, ok := l.(oci.LocalBlob); !ok {
				t.Errorf("layer %d is not served from the cache", j)
			}
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			h, _, _ := v1.SHA256(rc)
			rc.Close()
			if h.String() != diffIDs[j] {
				t.Errorf("layer %d uncompresses to %s, want %s", j, h, diffIDs[j])
			}
		}
	}
	if first.String() != golden {
		t.Errorf("digest %s, golden %s", first, golden)
	}
	recs, _ := filepath.Glob(filepath.Join(cache, "archives", "layers", "*.json"))
	if len(recs) != 2 {
		t.Errorf("layer records %v, want 2", recs)
	}

	bad := filepath.Join(dir, "bad.tar")
	writeDockerSave(t, bad, true)
	_, err := resolveBase(context.Background(), "docker-archive:"+bad, nil, o)
	if err == nil || !strings.Contains(err.Error(), "layer 1: content hashes to sha256:") || !strings.Contains(err.Error(), "but the config's diff_id is") {
		t.Errorf("bad diff_id: %v", err)
	}
}
