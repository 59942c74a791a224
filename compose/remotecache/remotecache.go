// Package remotecache keeps strata's build cache in the registry an image
// is pushed to, so that a runner with an empty local cache can tell, by
// hashing its inputs, that an image is already there and build nothing.
//
// # The record
//
// After a push, Record stores one small OCI artifact per image in the
// image's own repository, under the tag strata-cache-<key> (Tag): an OCI
// image manifest of artifact type ArtifactType whose config is the empty
// descriptor and whose one blob is a JSON record {"key", "image"} naming the
// input key (compose.Keys) and the image's descriptor. There is one tag per
// image, never one per layer. The manifest has no subject on purpose: on a
// registry without the referrers API (distribution 2.8) a subject would
// make clients keep a second, sha256-<digest> fallback tag per image.
//
// # Trust
//
// Lookup trusts a record only when everything checks: the manifest and
// blob are small and of the expected types, the blob has its digest, the
// record decodes strictly and names exactly the key asked for, and the
// registry answers that the repository has a
// manifest with exactly that digest, media type and size. Anything else is
// an error the caller reports as a warning before building as if there
// were no cache: a cache artifact never makes strata produce a wrong
// image. A missing tag is a plain miss.
package remotecache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// ArtifactType is the artifact type of a cache record's manifest and the
// media type of its one blob.
const ArtifactType = "application/vnd.strata.cache.v1+json"

// RecordAnnotation is the record manifest's annotation that repeats the
// record's JSON blob, so that Lookup reads the record with one request.
// Records written before it existed have only the blob, which Lookup then
// reads.
const RecordAnnotation = "dev.strata.cache.record"

// LayersAnnotation is the record manifest's annotation that lists the
// image's layers by content key (a JSON array of Layer), at most maxLayers
// of them. It is apart from RecordAnnotation so that a reader that decodes
// the record strictly is not disturbed by it.
const LayersAnnotation = "dev.strata.cache.layers"

// maxLayers bounds the layers a record lists (about 330 bytes each).
const maxLayers = 1024

// TagPrefix starts the tag of every cache record.
const TagPrefix = "strata-cache-"

// emptyType is the OCI empty descriptor's media type; its blob is "{}".
const emptyType = "application/vnd.oci.empty.v1+json"

// Limits on what Lookup reads: a record is a few hundred bytes, and its
// layer list up to maxLayers entries.
const (
	maxManifest = 1 << 20
	maxRecord   = 4 << 10
)

// record is the JSON blob of a cache artifact.
type record struct {
	Key   string        `json:"key"`
	Image v1.Descriptor `json:"image"`
}

// annotated is a record as read: the record (from RecordAnnotation or the
// blob) and the layers of LayersAnnotation.
type annotated struct {
	record
	Layers []Layer
}

// Layer is one layer of a recorded image: its content key (the layer
// cache's key of the spec layer it was built from) and its descriptor.
type Layer struct {
	Key       string          `json:"key"`
	MediaType types.MediaType `json:"mediaType"`
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
}

// Tag returns the tag of key's record in repo. key is a lowercase hex
// sha256, as compose.Keys gives it.
func Tag(repo name.Repository, key string) (name.Tag, error) {
	if !validKey(key) {
		return name.Tag{}, fmt.Errorf("remote cache: invalid key %q", key)
	}
	return repo.Tag(TagPrefix + key), nil
}

// validKey reports whether key is 64 lowercase hex digits.
func validKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for _, c := range key {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Record stores, in repo, the record that key built image (the descriptor
// of a manifest or index that repo has, with the platform of an image when
// known, so that a push of a hit need not read the image's config), and
// the image's layers by content key (LayersAnnotation; entries that are
// not valid, and any past maxLayers, are left out), which a later push of
// a changed image reuses (RecordedLayers). opts are the transport options
// (registry.RemoteOptions); ctx is added to them here. put, when not nil,
// writes the record instead of ggcr's remote with opts.
func Record(ctx context.Context, repo name.Repository, key string, image v1.Descriptor, layers []Layer, opts []remote.Option, put Putter) error {
	tag, err := Tag(repo, key)
	if err != nil {
		return err
	}
	opts = append(append([]remote.Option{}, opts...), remote.WithContext(ctx))
	rb, err := json.Marshal(record{Key: key, Image: v1.Descriptor{MediaType: image.MediaType, Digest: image.Digest, Size: image.Size, Platform: image.Platform}})
	if err != nil {
		return fmt.Errorf("remote cache: %w", err)
	}
	var ls []Layer
	for _, l := range layers {
		if validLayer(l) && len(ls) < maxLayers {
			ls = append(ls, l)
		}
	}
	ann := map[string]string{RecordAnnotation: string(rb)}
	if len(ls) > 0 {
		lb, err := json.Marshal(ls)
		if err != nil {
			return fmt.Errorf("remote cache: %w", err)
		}
		ann[LayersAnnotation] = string(lb)
	}
	return putArtifact(ctx, repo, tag, ArtifactType, rb, ann, opts, put)
}

// Putter writes a record's blobs and manifest through clients a push
// already has (registry.Writer): a blob in two requests, without asking
// first whether the repository has it, where ggcr's remote asks (a HEAD,
// then three requests for a missing blob) and authenticates anew.
type Putter interface {
	// PutBlob uploads data, whose digest is h, into repo: a blob that is
	// new by construction (the record itself).
	PutBlob(ctx context.Context, repo name.Repository, h v1.Hash, data []byte) error
	// PutSharedBlob is PutBlob for a blob repo may hold already (the empty
	// config): it is not sent again if repo has it.
	PutSharedBlob(ctx context.Context, repo name.Repository, h v1.Hash, data []byte) error
	// PutManifest puts raw, a manifest of media type mt, under tag.
	PutManifest(ctx context.Context, tag name.Tag, mt types.MediaType, raw []byte) error
}

// putArtifact puts, under tag in repo, an OCI artifact of artifactType
// whose config is the empty descriptor and whose one blob is blob (of the
// same media type), with the manifest annotations ann, through put (ggcr's
// remote with opts when nil). A manifest over maxManifest, which no reader
// would take, is refused.
func putArtifact(ctx context.Context, repo name.Repository, tag name.Tag, artifactType string, blob []byte, ann map[string]string, opts []remote.Option, put Putter) error {
	empty := []byte("{}")
	cfg := static.NewLayer(empty, emptyType)
	bl := static.NewLayer(blob, types.MediaType(artifactType))
	// The two blobs go up side by side (two goroutines a record): on a
	// distant registry every round trip shows.
	var g errgroup.Group
	for i, l := range []v1.Layer{cfg, bl} {
		data := [][]byte{empty, blob}[i]
		g.Go(func() error {
			if put == nil {
				return remote.WriteLayer(repo, l, opts...)
			}
			h, err := l.Digest()
			if err != nil {
				return err
			}
			if l == cfg {
				return put.PutSharedBlob(ctx, repo, h, data)
			}
			return put.PutBlob(ctx, repo, h, data)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("remote cache: writing %s: %w", tag, err)
	}
	desc := func(l v1.Layer, mt types.MediaType) v1.Descriptor {
		d, _ := l.Digest()
		n, _ := l.Size()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: n}
	}
	mb, err := json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        desc(cfg, emptyType),
		Layers:        []v1.Descriptor{desc(bl, types.MediaType(artifactType))},
		Annotations:   ann,
	})
	if err != nil {
		return fmt.Errorf("remote cache: %w", err)
	}
	if len(mb) > maxManifest {
		return fmt.Errorf("remote cache: the manifest of %s would be %d bytes, over the %d a reader takes", tag, len(mb), maxManifest)
	}
	if put != nil {
		err = put.PutManifest(ctx, tag, types.OCIManifestSchema1, mb)
	} else {
		err = remote.Put(tag, rawManifest(mb), opts...)
	}
	if err != nil {
		return fmt.Errorf("remote cache: writing %s: %w", tag, err)
	}
	return nil
}

// rawManifest is an OCI image manifest to put as it is.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (m rawManifest) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(m))
	return h, err
}
func (m rawManifest) Size() (int64, error) { return int64(len(m)), nil }

var _ remote.Taggable = rawManifest(nil)

// Lookup returns the descriptor of the image that key built, as recorded
// in repo and confirmed by the registry (see the package comment). It
// returns nil and no error when repo has no record for key (or no such
// repository); any other failure, a record that does not check included,
// is an error, and the caller should build.
func Lookup(ctx context.Context, repo name.Repository, key string, opts []remote.Option) (*v1.Descriptor, error) {
	tag, r, err := readRecord(ctx, repo, key, opts)
	if r == nil || err != nil {
		return nil, err
	}
	d := &r.Image
	head, err := remote.Head(repo.Digest(d.Digest.String()), append(append([]remote.Option{}, opts...), remote.WithContext(ctx))...)
	if err != nil {
		return nil, notThere(tag, repo, *d, err)
	}
	if err := sameImage(tag, *d, *head); err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: head.MediaType, Digest: head.Digest, Size: head.Size}, nil
}

// LookupImage is Lookup for a caller that goes on to read the image: the
// registry confirms the record by serving the image's manifest (digest
// checked), which is returned, instead of by a separate HEAD request. The
// returned descriptor's Platform is the one the record names, if any.
func LookupImage(ctx context.Context, repo name.Repository, key string, opts []remote.Option) (*remote.Descriptor, error) {
	tag, r, err := readRecord(ctx, repo, key, opts)
	if r == nil || err != nil {
		return nil, err
	}
	d := &r.Image
	got, err := remote.Get(repo.Digest(d.Digest.String()), append(append([]remote.Option{}, opts...), remote.WithContext(ctx))...)
	if err != nil {
		return nil, notThere(tag, repo, *d, err)
	}
	if err := sameImage(tag, *d, got.Descriptor); err != nil {
		return nil, err
	}
	got.Platform = nil
	if d.Platform != nil && d.MediaType.IsImage() && d.Platform.OS != "" && d.Platform.Architecture != "" {
		got.Platform = d.Platform
	}
	return got, nil
}

// notThere is the error of a record whose image the registry does not
// serve (err is the registry's answer).
func notThere(tag name.Tag, repo name.Repository, d v1.Descriptor, err error) error {
	if notFound(err) {
		return fmt.Errorf("remote cache: %s: names image %s, which %s does not have", tag, d.Digest, repo)
	}
	return fmt.Errorf("remote cache: %s: checking image %s: %w", tag, d.Digest, err)
}

// sameImage checks that the registry's descriptor got is the recorded d.
func sameImage(tag name.Tag, d, got v1.Descriptor) error {
	if got.Digest != d.Digest || got.MediaType != d.MediaType || got.Size != d.Size {
		return fmt.Errorf("remote cache: %s: names image %s (%s, %d bytes); the registry has %s (%s, %d bytes)",
			tag, d.Digest, d.MediaType, d.Size, got.Digest, got.MediaType, got.Size)
	}
	return nil
}

// RecordedLayers reads the records of keys in repo (at most maxLayerRecords
// of them, jobs at a time; records that do not check are skipped) and
// returns the layers they list, by content key. A push on a fresh runner
// uses it for an image the cache does not name (a changed service): its
// unchanged layers are in the repository already, under the records of its
// earlier images. Nothing here is confirmed by the registry: the caller
// checks each layer it uses.
func RecordedLayers(ctx context.Context, repo name.Repository, keys []string, jobs int, opts []remote.Option) map[string]Layer {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	if len(keys) > maxLayerRecords {
		keys = keys[:maxLayerRecords]
	}
	recs := make([]*annotated, len(keys))
	var g errgroup.Group
	g.SetLimit(max(jobs, 1))
	for i, k := range keys {
		g.Go(func() error {
			_, recs[i], _ = readRecord(ctx, repo, k, opts)
			return nil
		})
	}
	g.Wait()
	out := map[string]Layer{}
	for _, r := range recs {
		if r == nil {
			continue
		}
		for _, l := range r.Layers {
			if validLayer(l) {
				out[l.Key] = l
			}
		}
	}
	return out
}

// maxLayerRecords bounds how many records RecordedLayers reads (the first
// keys in sorted order, so every runner reads the same ones).
const maxLayerRecords = 32

// validLayer reports whether l is a layer strata could have recorded: a
// content key, sha256 digests, a size, and the one media type strata
// writes its layers with.
func validLayer(l Layer) bool {
	return validKey(l.Key) && l.Digest.Algorithm == "sha256" && len(l.Digest.Hex) == 64 &&
		l.DiffID.Algorithm == "sha256" && len(l.DiffID.Hex) == 64 && l.Size > 0 && l.MediaType == types.OCILayer
}

// readRecord reads and checks key's record in repo and returns the image
// descriptor it names, not yet confirmed by the registry; nil and no error
// when there is no record.
func readRecord(ctx context.Context, repo name.Repository, key string, opts []remote.Option) (name.Tag, *annotated, error) {
	tag, err := Tag(repo, key)
	if err != nil {
		return tag, nil, err
	}
	opts = append(append([]remote.Option{}, opts...), remote.WithContext(ctx))
	got, err := remote.Get(tag, opts...)
	if notFound(err) {
		return tag, nil, nil
	} else if err != nil {
		return tag, nil, fmt.Errorf("remote cache: reading %s: %w", tag, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("remote cache: %s: %s", tag, fmt.Sprintf(format, args...))
	}
	if got.MediaType != types.OCIManifestSchema1 || len(got.Manifest) > maxManifest {
		return tag, nil, bad("not a cache record (media type %s, %d bytes)", got.MediaType, len(got.Manifest))
	}
	var m v1.Manifest
	if err := json.Unmarshal(got.Manifest, &m); err != nil {
		return tag, nil, bad("manifest: %v", err)
	}
	if m.ArtifactType != ArtifactType || len(m.Layers) != 1 || m.Layers[0].MediaType != ArtifactType || m.Layers[0].Size > maxRecord {
		return tag, nil, bad("not a cache record (artifact type %q, %d blobs)", m.ArtifactType, len(m.Layers))
	}
	var r annotated
	rb := []byte(m.Annotations[RecordAnnotation])
	if len(rb) == 0 {
		if rb, err = readBlob(repo, m.Layers[0], opts); err != nil {
			return tag, nil, bad("%v", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(rb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r.record); err != nil {
		return tag, nil, bad("record: %v", err)
	}
	// The layer list only ever helps: one that does not decode is ignored.
	if lb := m.Annotations[LayersAnnotation]; lb != "" {
		var ls []Layer
		if json.Unmarshal([]byte(lb), &ls) == nil {
			r.Layers = ls
		}
	}
	switch {
	case r.Key != key:
		return tag, nil, bad("record is for key %q", r.Key)
	case r.Image.Digest.Algorithm != "sha256" || len(r.Image.Digest.Hex) != 64 || !r.Image.MediaType.IsImage() && !r.Image.MediaType.IsIndex():
		return tag, nil, bad("record names %q (%s), not an image", r.Image.Digest, r.Image.MediaType)
	}
	return tag, &r, nil
}

// Recorded lists the keys repo has records for, from one listing of its
// tags (no record is read or checked: Lookup does that). A repository that
// does not exist has none. A caller that gets an error should not conclude
// anything and look keys up one by one.
//
// A push uses it to skip hashing the inputs of a spec whose repository has
// no record at all (a cold push to a new repository): no key of it can hit.
func Recorded(ctx context.Context, repo name.Repository, opts []remote.Option) (map[string]bool, error) {
	l, err := List(ctx, repo, opts)
	if err != nil {
		return nil, err
	}
	return l.Keys, nil
}

// Listing is what one listing of a repository's tags tells of its cache.
type Listing struct {
	// Keys are the input keys of the image records.
	Keys map[string]bool
	// Bases are the base keys (BaseKey) of the base-files records.
	Bases map[string]bool
	// Tags are every tag the repository had, records included (a push
	// takes a tag listed as likely in place: registry.PushOptions.Listed).
	Tags map[string]bool
	// Missing is set when the registry does not know the repository.
	Missing bool
}

// List lists repo's records with one request (see Recorded). A repository
// that does not exist has none.
func List(ctx context.Context, repo name.Repository, opts []remote.Option) (*Listing, error) {
	opts = append(append([]remote.Option{}, opts...), remote.WithContext(ctx))
	l := &Listing{Keys: map[string]bool{}, Bases: map[string]bool{}, Tags: map[string]bool{}}
	tags, err := remote.List(repo, opts...)
	if notFound(err) {
		l.Missing = true
		return l, nil
	} else if err != nil {
		return nil, fmt.Errorf("remote cache: listing the tags of %s: %w", repo, err)
	}
	for _, t := range tags {
		l.Tags[t] = true
		if k, ok := baseKeyOf(t); ok {
			l.Bases[k] = true
		} else if k, ok := strings.CutPrefix(t, TagPrefix); ok && validKey(k) {
			l.Keys[k] = true
		}
	}
	return l, nil
}

// readBlob reads the small blob d from repo and checks its digest.
func readBlob(repo name.Repository, d v1.Descriptor, opts []remote.Option) ([]byte, error) {
	b, err := readBlobMax(repo, d, maxRecord, opts)
	if err != nil {
		return nil, fmt.Errorf("record %w", err)
	}
	return b, nil
}

// notFound reports whether err is a registry's 404 (no such manifest or
// repository).
func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
