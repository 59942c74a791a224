package registry

import (
	"context"

	"github.com/strata-build/strata/compose/oci"
)

// Read opens the image or index l names, unchanged (an index is not
// narrowed to platforms): a registry reference through cfg's access policy,
// an oci: layout or a docker archive from disk. Layers are read lazily, when
// the caller reads them. cacheDir holds the decompressed copy of a gzip
// docker archive.
func Read(ctx context.Context, l Location, cacheDir string, cfg TransportConfig) (oci.Artifact, error) {
	ropts, err := RemoteOptions(cfg)
	if err != nil {
		return oci.Artifact{}, err
	}
	return readArtifact(ctx, l, cacheDir, ropts)
}
