package base

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/atomicfile"
	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/internal/ctxio"
	"github.com/strata-build/strata/internal/pinnedgzip"
	"github.com/strata-build/strata/spec"
)

// resolveArchive reads a base from a docker-save tarball holding one image.
//
// A gzip-compressed archive is decompressed once into the cache, keyed by
// the archive's sha256, because reading a docker-save tarball needs random
// access. Layers stored compressed in the archive (ggcr and strata write
// them so) are used as they are. Uncompressed layers (what `docker save`
// writes) are compressed once with strata's pinned layer compressor into the
// blob store, so their digests do not depend on the Go toolchain and are not
// recomputed on every use.
func resolveArchive(ctx context.Context, l spec.Location, want []spec.Platform, cacheDir string, o Options) (*Resolved, error) {
	p, err := oci.ArchiveTar(ctx, l.File, cacheDir)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", l.File, err)
	}
	img, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", l.File, err)
	}
	plain, err := archiveLayersPlain(p)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", l.File, err)
	}
	if plain {
		if img, err = compressArchiveImage(ctx, img, cacheDir, o); err != nil {
			return nil, fmt.Errorf("docker archive %s: %w", l.File, err)
		}
	}
	plats, err := narrowImage(img, want)
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", l.File, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("docker archive %s: %w", l.File, err)
	}
	return &Resolved{Platforms: plats, Digest: d}, nil
}

// archiveLayersPlain reports whether every layer of the archive's one image
// is stored as a regular file holding an uncompressed tar. Anything else
// (compressed layers, links, a mix) is left to ggcr as it is.
func archiveLayersPlain(p string) (bool, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(p) })
	if err != nil {
		return false, err
	}
	if len(m) != 1 || len(m[0].Layers) == 0 {
		return false, nil
	}
	want := map[string]bool{}
	for _, l := range m[0].Layers {
		want[path.Clean(l)] = false
	}
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	magic := make([]byte, 4)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return false, err
		}
		if _, ok := want[path.Clean(h.Name)]; !ok {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return false, nil
		}
		n, _ := io.ReadFull(tr, magic)
		if n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b || n == 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			return false, nil
		}
		want[path.Clean(h.Name)] = true
	}
	for _, seen := range want {
		if !seen {
			return false, nil
		}
	}
	return true, nil
}

// archiveLayerEntry records the compressed form of an uncompressed archive
// layer, keyed by its diffID and the compressor's format.
type archiveLayerEntry struct {
	Format string `json:"format"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// compressArchiveImage returns img (a docker-save image with uncompressed
// layers) with every layer compressed by the pinned compressor into the blob
// store, as a cache-backed image with Docker media types.
func compressArchiveImage(ctx context.Context, img v1.Image, cacheDir string, o Options) (v1.Image, error) {
	store, err := blobstore.Open(cacheDir)
	if err != nil {
		return nil, err
	}
	cfgRaw, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
	if err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%d layers but %d diff_ids in the config", len(layers), len(cfg.RootFS.DiffIDs))
	}
	cfgDigest, err := store.PutBytes(cfgRaw)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(len(cfgRaw)), Digest: cfgDigest},
	}
	for i, l := range layers {
		d, size, err := compressArchiveLayer(ctx, store, cacheDir, cfg.RootFS.DiffIDs[i], l)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.DockerLayer, Size: size, Digest: d})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h, err := store.PutBytes(raw)
	if err != nil {
		return nil, err
	}
	f := newBaseFetcher(name.Repository{}, store, o)
	return newCachedImage(ctx, f, h, raw, types.DockerManifestSchema2)
}

// compressArchiveLayer compresses the uncompressed layer l (diffID) into the
// store, once: the result is recorded under cacheDir/archives/layers.
func compressArchiveLayer(ctx context.Context, store *blobstore.Store, cacheDir string, diffID v1.Hash, l v1.Layer) (v1.Hash, int64, error) {
	rec := filepath.Join(cacheDir, "archives", "layers", diffID.Hex+".json")
	if b, err := os.ReadFile(rec); err == nil {
		var e archiveLayerEntry
		if json.Unmarshal(b, &e) == nil && e.Format == pinnedgzip.Format {
			if h, err := v1.NewHash(e.Digest); err == nil && store.Has(h) {
				return h, e.Size, nil
			}
		}
	}
	rc, err := ctxio.Uncompressed(ctx, l)
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer rc.Close()
	w, err := store.Create()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer w.Abort()
	gz, err := pinnedgzip.NewWriter(w)
	if err != nil {
		return v1.Hash{}, 0, err
	}
	hw := blobstore.NewHasher()
	if _, err := io.Copy(io.MultiWriter(gz, hw), ctxio.Reader(ctx, rc)); err != nil {
		gz.Close()
		return v1.Hash{}, 0, err
	}
	if err := gz.Close(); err != nil {
		return v1.Hash{}, 0, err
	}
	if got := hw.Sum(); got != diffID {
		return v1.Hash{}, 0, fmt.Errorf("content hashes to %s, but the config's diff_id is %s", got, diffID)
	}
	d, size, err := w.Commit()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	os.Chmod(store.Path(d), 0o644)
	b, err := json.Marshal(archiveLayerEntry{Format: pinnedgzip.Format, Digest: d.String(), Size: size})
	if err != nil {
		return v1.Hash{}, 0, err
	}
	if err := os.MkdirAll(filepath.Dir(rec), 0o755); err != nil {
		return v1.Hash{}, 0, err
	}
	err = atomicfile.WriteFile(rec, 0o644, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, nil)
	return d, size, err
}
