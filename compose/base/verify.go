package base

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/ctxio"
)

// verifyLocalImage checks an image read from an OCI layout against the
// names it is given, as reading a registry base or a docker archive does:
// its manifest's bytes hash to the digest its index names, its config to
// the manifest's config digest, each layer blob to its digest and size, a
// layer labelled +gzip is gzip, and each layer's uncompressed content to the
// config's diff_id. A layout is a directory anyone may have edited; a
// mismatch would otherwise be built on silently (umoci refuses such
// layouts).
func verifyLocalImage(ctx context.Context, pi PlatformImage) error {
	img := pi.Image
	raw, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("reading manifest %s: %w", pi.Digest, err)
	}
	if got := sha256Hex(raw); got != pi.Digest.Hex {
		return fmt.Errorf("manifest %s: content hashes to sha256:%s (the blob was changed under its name)", pi.Digest, got)
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("manifest %s: %w", pi.Digest, err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
	}
	if got := sha256Hex(rawCfg); got != m.Config.Digest.Hex {
		return fmt.Errorf("config %s: content hashes to sha256:%s", m.Config.Digest, got)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("config %s lists %d diff_ids for %d layers", m.Config.Digest, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	for i, d := range m.Layers {
		if err := verifyLayer(ctx, img, d, cfg.RootFS.DiffIDs[i]); err != nil {
			return fmt.Errorf("layer %d (%s): %w", i, d.Digest, err)
		}
	}
	return nil
}

// verifyLayer reads one layer blob once, checking its digest, size, its
// compression against the media type and its diffID.
func verifyLayer(ctx context.Context, img v1.Image, d v1.Descriptor, diffID v1.Hash) error {
	l, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	blobHash := sha256.New()
	counted := &countWriter{}
	r := bufio.NewReader(io.TeeReader(ctxio.Reader(ctx, rc), io.MultiWriter(blobHash, counted)))
	diffHash := sha256.New()
	switch {
	case isGzipType(d.MediaType):
		magic, _ := r.Peek(2)
		if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
			return fmt.Errorf("media type %s says gzip, but the blob is not gzip-compressed", d.MediaType)
		}
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("decompressing: %w", err)
		}
		if _, err := io.Copy(diffHash, zr); err != nil {
			return fmt.Errorf("decompressing: %w", err)
		}
		io.Copy(io.Discard, r) // anything after the gzip stream still counts for the digest
	case d.MediaType == types.OCIUncompressedLayer || d.MediaType == types.OCIUncompressedRestrictedLayer:
		if _, err := io.Copy(diffHash, r); err != nil {
			return err
		}
	default:
		// zstd and foreign types: only the blob's own digest is checked.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		diffHash = nil
	}
	if got := hex.EncodeToString(blobHash.Sum(nil)); got != d.Digest.Hex {
		return fmt.Errorf("content hashes to sha256:%s", got)
	}
	if counted.n != d.Size {
		return fmt.Errorf("content is %d bytes, the manifest says %d", counted.n, d.Size)
	}
	if diffHash != nil {
		if got := hex.EncodeToString(diffHash.Sum(nil)); got != diffID.Hex {
			return fmt.Errorf("uncompressed content hashes to sha256:%s, but the config's diff_id is %s", got, diffID)
		}
	}
	return nil
}

// isGzipType reports whether mt is a gzip-compressed layer type.
func isGzipType(mt types.MediaType) bool {
	switch mt {
	case types.OCILayer, types.OCIRestrictedLayer, types.DockerLayer, types.DockerForeignLayer:
		return true
	}
	return false
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
