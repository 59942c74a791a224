package oci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media type and content of the OCI 1.1 empty descriptor, the config of an
// artifact manifest.
const (
	MediaTypeEmpty = "application/vnd.oci.empty.v1+json"
	emptyJSON      = "{}"
)

// TitleAnnotation names a blob's file name (org.opencontainers.image.title).
const TitleAnnotation = "org.opencontainers.image.title"

// Document is one blob of a referrer artifact.
type Document struct {
	MediaType   string
	Data        []byte
	Annotations map[string]string
}

// NewReferrer returns an OCI 1.1 artifact manifest that refers to subject:
// artifactType names what it is, docs are its blobs (its layers), and its
// config is the empty descriptor. Attached this way (registries list it
// under the subject's referrers, or the referrers tag schema where they
// cannot), nothing about the subject changes, so its digest stays the same.
// The manifest's bytes depend only on the arguments.
func NewReferrer(subject v1.Descriptor, artifactType string, docs []Document, annotations map[string]string) (v1.Image, error) {
	if artifactType == "" || len(docs) == 0 {
		return nil, errors.New("oci: a referrer needs an artifact type and at least one document")
	}
	r := &referrer{blobs: map[v1.Hash]blob{}}
	emptyDigest := digestOf([]byte(emptyJSON))
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config: v1.Descriptor{
			MediaType: MediaTypeEmpty, Digest: emptyDigest, Size: int64(len(emptyJSON)),
		},
		Subject:     &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: maps.Clone(annotations),
	}
	for _, d := range docs {
		h := digestOf(d.Data)
		r.blobs[h] = blob{mt: types.MediaType(d.MediaType), data: d.Data}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.MediaType(d.MediaType), Digest: h, Size: int64(len(d.Data)), Annotations: maps.Clone(d.Annotations)})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("oci: encoding referrer manifest: %w", err)
	}
	r.manifest = raw
	return partial.CompressedToImage(r)
}

// Subject returns the subject descriptor of a referrer manifest, or nil.
func Subject(img v1.Image) (*v1.Descriptor, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	return m.Subject, nil
}

func digestOf(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

type blob struct {
	mt   types.MediaType
	data []byte
}

// referrer is an artifact manifest held in memory.
type referrer struct {
	manifest []byte
	blobs    map[v1.Hash]blob
}

var _ partial.CompressedImageCore = (*referrer)(nil)

func (r *referrer) RawConfigFile() ([]byte, error)      { return []byte(emptyJSON), nil }
func (r *referrer) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (r *referrer) RawManifest() ([]byte, error)        { return r.manifest, nil }

func (r *referrer) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	b, ok := r.blobs[h]
	if !ok {
		return nil, fmt.Errorf("oci: referrer has no blob %s", h)
	}
	return &docLayer{h: h, b: b}, nil
}

// docLayer is one document blob, stored as it is (not compressed).
type docLayer struct {
	h v1.Hash
	b blob
}

func (l *docLayer) Digest() (v1.Hash, error)            { return l.h, nil }
func (l *docLayer) Size() (int64, error)                { return int64(len(l.b.data)), nil }
func (l *docLayer) MediaType() (types.MediaType, error) { return l.b.mt, nil }
func (l *docLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.b.data)), nil
}
