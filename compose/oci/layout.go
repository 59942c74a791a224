package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/atomicfile"
)

// ociLayoutFile is the content of an OCI layout's oci-layout file.
const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// WriteLayout adds a to the OCI image layout at dir (created if missing),
// recorded once under each of refNames (org.opencontainers.image.ref.name),
// replacing any earlier image with one of those ref names. Atomic: a crash
// leaves the previous valid layout.
//
// A new layout is written into a temporary directory next to dir and renamed
// into place. In an existing layout, blobs are added first (each through a
// temporary file and a rename, so a blob that exists is complete), then
// index.json is read, merged and replaced by a rename while dir is locked
// (flock on the directory), so concurrent writers never lose each other's
// entries. Blobs the layout already has are kept; blobs no longer referenced
// after a ref is replaced are not removed. Temporary files that killed
// writers left in or beside dir are removed once a day old.
func WriteLayout(ctx context.Context, dir string, a Artifact, refNames []string, o WriteOptions) error {
	if len(refNames) == 0 {
		return fmt.Errorf("writing layout %s: no ref name", dir)
	}
	desc, blobs, err := artifactBlobs(a)
	if err != nil {
		return fmt.Errorf("writing layout %s: %w", dir, err)
	}
	var descs []v1.Descriptor
	seen := map[string]bool{}
	for _, ref := range refNames {
		if ref == "" {
			return fmt.Errorf("writing layout %s: empty ref name", dir)
		}
		if seen[ref] {
			continue
		}
		seen[ref] = true
		d := desc
		d.Annotations = map[string]string{RefNameAnnotation: ref}
		descs = append(descs, d)
	}
	// Referrers (SBOMs, provenance) are listed without a ref name.
	for _, r := range o.Referrers {
		rd, rblobs, err := artifactBlobs(Artifact{Image: r})
		if err != nil {
			return fmt.Errorf("writing layout %s: referrer: %w", dir, err)
		}
		m, err := r.Manifest()
		if err != nil {
			return fmt.Errorf("writing layout %s: referrer: %w", dir, err)
		}
		rd.ArtifactType, rd.Annotations, rd.Platform = m.ArtifactType, m.Annotations, nil
		descs = append(descs, rd)
		for _, b := range rblobs {
			if !slices.ContainsFunc(blobs, func(o outBlob) bool { return o.digest == b.digest }) {
				blobs = append(blobs, b)
			}
		}
	}
	// What killed writers left: temporary layouts beside dir, temporary
	// files in it.
	clean := filepath.Clean(dir)
	atomicfile.RemoveStale(filepath.Dir(clean), filepath.Base(clean)+"-", time.Now())
	atomicfile.RemoveStale(clean, "", time.Now())
	fresh, err := isAbsentOrEmpty(dir)
	if err != nil {
		return fmt.Errorf("writing layout %s: %w", dir, err)
	}
	if fresh {
		done, err := createLayout(ctx, dir, descs, blobs, o)
		if err != nil {
			return fmt.Errorf("writing layout %s: %w", dir, err)
		}
		if done {
			return nil
		}
		// Another writer created the layout first: add to it.
	}
	if err := addToLayout(ctx, dir, descs, blobs, o); err != nil {
		return fmt.Errorf("writing layout %s: %w", dir, err)
	}
	// An image written again keeps its blobs; its manifest's mtime says it
	// was written now (LayoutImage.Written, which prune goes by).
	touchManifest(dir, desc.Digest)
	return nil
}

// isAbsentOrEmpty reports whether dir does not exist or is an empty directory.
func isAbsentOrEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, errors.New("exists and is not a directory")
	}
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return false, err
	}
	return len(names) == 0, nil
}

// createLayout writes a whole new layout into a temporary directory beside
// dir and renames it to dir. It returns false (and no error) when dir was
// created by someone else meanwhile.
func createLayout(ctx context.Context, dir string, descs []v1.Descriptor, blobs []outBlob, o WriteOptions) (done bool, err error) {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(parent, atomicfile.TempPrefix+filepath.Base(filepath.Clean(dir))+"-")
	if err != nil {
		return false, err
	}
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return false, err
	}
	if err := writeBlobs(ctx, filepath.Join(tmp, "blobs"), tmp, blobs, o); err != nil {
		return false, err
	}
	if err := writeLayoutMarker(tmp, o); err != nil {
		return false, err
	}
	idx := &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs}
	if err := writeIndexJSON(tmp, idx, o); err != nil {
		return false, err
	}
	if err := atomicfile.SyncDir(filepath.Join(tmp, "blobs")); err != nil {
		return false, err
	}
	if err := renameDir(tmp, dir); err != nil {
		if fresh, ferr := isAbsentOrEmpty(dir); ferr == nil && !fresh {
			return false, nil
		}
		return false, err
	}
	done = true
	return true, atomicfile.SyncDir(parent)
}

// addToLayout adds descs and their blobs to the existing layout dir.
func addToLayout(ctx context.Context, dir string, descs []v1.Descriptor, blobs []outBlob, o WriteOptions) error {
	if b, err := os.ReadFile(filepath.Join(dir, "oci-layout")); err != nil {
		return errors.New("exists and is not an OCI image layout (no oci-layout file)")
	} else {
		var l struct {
			Version string `json:"imageLayoutVersion"`
		}
		if json.Unmarshal(b, &l) != nil || l.Version == "" {
			return errors.New("oci-layout file is not valid")
		}
	}
	if err := writeBlobs(ctx, filepath.Join(dir, "blobs"), dir, blobs, o); err != nil {
		return err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("locking: %w", err)
	}
	defer unlock()
	idx := &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, idx); err != nil {
			return fmt.Errorf("parsing index.json: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	// Each ref name moves to the new image; a referrer (no ref name)
	// already listed is listed once.
	replaced, referrers := map[string]bool{}, map[v1.Hash]bool{}
	for _, d := range descs {
		if ref := d.Annotations[RefNameAnnotation]; ref != "" {
			replaced[ref] = true
		} else {
			referrers[d.Digest] = true
		}
	}
	kept := idx.Manifests[:0]
	for _, d := range idx.Manifests {
		ref := d.Annotations[RefNameAnnotation]
		if (ref != "" && !replaced[ref]) || (ref == "" && !referrers[d.Digest]) {
			kept = append(kept, d)
		}
	}
	idx.Manifests = append(kept, descs...)
	return writeIndexJSON(dir, idx, o)
}

// writeLayoutMarker writes the oci-layout file.
func writeLayoutMarker(dir string, o WriteOptions) error {
	return atomicfile.WriteFile(filepath.Join(dir, "oci-layout"), 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, ociLayoutFile)
		return err
	}, o.seam)
}

// writeIndexJSON atomically replaces dir/index.json with idx.
func writeIndexJSON(dir string, idx *v1.IndexManifest, o WriteOptions) error {
	if idx.MediaType == "" {
		idx.MediaType = types.OCIImageIndex
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "index.json"), 0o644, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, o.seam)
}
