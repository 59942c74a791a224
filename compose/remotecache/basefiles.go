package remotecache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// # Base files
//
// What strata learns by reading a base layer once, its tar-header index
// (for the base check) and its SBOM inventory (the packages its databases
// list), is kept in the local cache by diffID. A runner with an empty
// cache would read every base layer again: the whole base downloaded and
// gunzipped for a spec that adds one binary. PutBaseFiles keeps those
// files in the registry cache too, in the repository the image is pushed
// to, under the tag strata-cache-base-<key> (BaseTag; the key hashes the
// base reference and the diffIDs it resolved to): an OCI artifact of type
// BaseFilesType with one JSON blob. GetBaseFiles reads them back, so that a
// fresh runner pushing the next version of a service reads none of its
// base.
//
// Trust is the registry cache's: whoever can push to the repository can
// write these, as they can write image records. A reader takes only files
// of the two known kinds, for the diffIDs it asks for, within size limits;
// the caller checks each file as its reader checks local files, and uses
// them for pushes to that repository only (see cmd/strata).

// BaseFilesType is the artifact type of a base-files record and the media
// type of its blob.
const BaseFilesType = "application/vnd.strata.base-files.v1+json"

// BaseTagPrefix starts the tag of every base-files record (after TagPrefix,
// so that a listing sees them with the image records; Recorded does not
// take them for image keys).
const BaseTagPrefix = TagPrefix + "base-"

// Base-file kinds.
const (
	BaseIndex     = "treeindex" // basetree's header index of the layer
	BaseInventory = "sbom"      // the SBOM's inventory of the layer
)

// maxBaseFiles bounds the blob GetBaseFiles reads and PutBaseFiles writes
// (the index of a base of a few hundred thousand files).
const maxBaseFiles = 16 << 20

// BaseFile is one cached file about one base layer.
type BaseFile struct {
	// Kind is BaseIndex or BaseInventory.
	Kind string `json:"kind"`
	// DiffID names the base layer the file is about.
	DiffID v1.Hash `json:"diffID"`
	// Data is the file's bytes, as the local cache holds them.
	Data []byte `json:"data"`
}

// baseFiles is the JSON blob of a base-files record.
type baseFiles struct {
	Base  string     `json:"base"`
	Files []BaseFile `json:"files"`
}

// BaseKey is the key of base (a spec's base reference as written),
// resolved to the layers diffIDs, in BaseTag: a base that moves, and each
// platform of a multi-platform base, has a record of its own.
func BaseKey(base string, diffIDs []v1.Hash) string {
	h := sha256.New()
	fmt.Fprintf(h, "strata-base-files/1\n%s\n", base)
	ids := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		ids[i] = d.String()
	}
	slices.Sort(ids)
	for _, d := range slices.Compact(ids) {
		fmt.Fprintf(h, "%s\n", d)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// BaseTag is the tag of the record of base, resolved to diffIDs, in repo.
func BaseTag(repo name.Repository, base string, diffIDs []v1.Hash) name.Tag {
	return repo.Tag(BaseTagPrefix + BaseKey(base, diffIDs))
}

// PutBaseFiles stores files, what strata knows about the layers diffIDs of
// base, in repo (replacing what was there). opts are the transport
// options; ctx is added to them here. put, when not nil, writes the record
// instead of ggcr's remote with opts.
func PutBaseFiles(ctx context.Context, repo name.Repository, base string, diffIDs []v1.Hash, files []BaseFile, opts []remote.Option, put Putter) error {
	tag := BaseTag(repo, base, diffIDs)
	opts = append(append([]remote.Option{}, opts...), remote.WithContext(ctx))
	b, err := json.Marshal(baseFiles{Base: base, Files: files})
	if err != nil {
		return fmt.Errorf("remote cache: %w", err)
	}
	if len(b) > maxBaseFiles {
		return fmt.Errorf("remote cache: the base files of %s would be %d bytes, over the %d a reader takes", base, len(b), maxBaseFiles)
	}
	return putArtifact(ctx, repo, tag, BaseFilesType, b, nil, opts, put)
}

// GetBaseFiles reads the record of base, resolved to the layers diffIDs,
// in repo and returns its files for those layers (others are dropped). A
// missing record is (nil, nil); a record that does not check is an error,
// which a caller reports as a warning before reading the base itself.
func GetBaseFiles(ctx context.Context, repo name.Repository, base string, diffIDs []v1.Hash, opts []remote.Option) ([]BaseFile, error) {
	tag := BaseTag(repo, base, diffIDs)
	opts = append(append([]remote.Option{}, opts...), remote.WithContext(ctx))
	d, err := remote.Get(tag, opts...)
	if notFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("remote cache: reading %s: %w", tag, err)
	}
	if len(d.Manifest) > maxManifest {
		return nil, fmt.Errorf("remote cache: %s: manifest of %d bytes", tag, len(d.Manifest))
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return nil, fmt.Errorf("remote cache: %s: %w", tag, err)
	}
	if m.ArtifactType != BaseFilesType || len(m.Layers) != 1 || m.Layers[0].MediaType != BaseFilesType ||
		m.Layers[0].Size <= 0 || m.Layers[0].Size > maxBaseFiles {
		return nil, fmt.Errorf("remote cache: %s is not a base-files record", tag)
	}
	b, err := readBlobMax(repo, m.Layers[0], maxBaseFiles, opts)
	if err != nil {
		return nil, fmt.Errorf("remote cache: %s: %w", tag, err)
	}
	var bf baseFiles
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&bf); err != nil {
		return nil, fmt.Errorf("remote cache: %s: %w", tag, err)
	}
	if bf.Base != base {
		return nil, fmt.Errorf("remote cache: %s holds the files of base %q, not %q", tag, bf.Base, base)
	}
	wanted := map[v1.Hash]bool{}
	for _, h := range diffIDs {
		wanted[h] = true
	}
	var out []BaseFile
	for _, f := range bf.Files {
		if (f.Kind != BaseIndex && f.Kind != BaseInventory) || f.DiffID.Algorithm != "sha256" || !validKey(f.DiffID.Hex) {
			return nil, fmt.Errorf("remote cache: %s: a file of kind %q for %q", tag, f.Kind, f.DiffID)
		}
		if wanted[f.DiffID] {
			out = append(out, f)
		}
	}
	return out, nil
}

// readBlobMax reads blob d of at most limit bytes from repo and checks its
// digest and size.
func readBlobMax(repo name.Repository, d v1.Descriptor, limit int64, opts []remote.Option) ([]byte, error) {
	l, err := remote.Layer(repo.Digest(d.Digest.String()), opts...)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != d.Size || d.Digest.Algorithm != "sha256" || hex.EncodeToString(sum[:]) != d.Digest.Hex {
		return nil, fmt.Errorf("blob %s does not match its digest", d.Digest)
	}
	return b, nil
}

// baseKeyOf returns the base key of a listed tag, if it is a base-files
// record's.
func baseKeyOf(tag string) (string, bool) {
	k, ok := strings.CutPrefix(tag, BaseTagPrefix)
	return k, ok && validKey(k)
}
