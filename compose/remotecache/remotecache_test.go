package remotecache

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/testregistry"
)

const (
	keyA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// pushImage pushes a random image to repo:tag and returns its descriptor.
func pushImage(t *testing.T, repo name.Repository, tag string) v1.Descriptor {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag(tag), img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	n, _ := img.Size()
	mt, _ := img.MediaType()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}
}

// putRecord writes a hand-made record artifact (blob bytes, subject,
// artifact type) under key's tag, as a hostile or broken writer would.
func putRecord(t *testing.T, repo name.Repository, key string, blob []byte, _ v1.Descriptor, artifactType string) {
	t.Helper()
	putAnnotated(t, repo, key, blob, nil, artifactType, true)
}

// putAnnotated is putRecord with the manifest's RecordAnnotation (none if
// nil), and the blob uploaded or not.
func putAnnotated(t *testing.T, repo name.Repository, key string, blob, annotation []byte, artifactType string, upload bool) {
	t.Helper()
	cfg := static.NewLayer([]byte("{}"), emptyType)
	b := static.NewLayer(blob, ArtifactType)
	for _, l := range []v1.Layer{cfg, b} {
		if l == b && !upload {
			continue
		}
		if err := remote.WriteLayer(repo, l); err != nil {
			t.Fatal(err)
		}
	}
	cd, _ := cfg.Digest()
	bd, _ := b.Digest()
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config: v1.Descriptor{MediaType: emptyType, Digest: cd, Size: 2},
		Layers: []v1.Descriptor{{MediaType: ArtifactType, Digest: bd, Size: int64(len(blob))}}}
	if annotation != nil {
		m.Annotations = map[string]string{RecordAnnotation: string(annotation)}
	}
	mb, _ := json.Marshal(m)
	if err := remote.Put(repo.Tag(TagPrefix+key), rawManifest(mb)); err != nil {
		t.Fatal(err)
	}
}

// TestLookupDistribution records and finds images in a real distribution
// 2.8 registry, and turns every kind of bad record into an error (the
// caller warns and builds), never into a hit.
func TestLookupDistribution(t *testing.T) {
	ctx := context.Background()
	r := testregistry.Start(t, launchProgram)
	repo, err := name.NewRepository(r.Host + "/mono/svc")
	if err != nil {
		t.Fatal(err)
	}
	img := pushImage(t, repo, "dev")

	// No record (and no repository): a plain miss.
	for _, rp := range []string{"/mono/svc", "/mono/none"} {
		rr, _ := name.NewRepository(r.Host + rp)
		got, err := Lookup(ctx, rr, keyA, nil)
		if got != nil || err != nil {
			t.Fatalf("Lookup(%s) before Record = %v, %v; want a miss", rp, got, err)
		}
	}
	if err := Record(ctx, repo, keyA, img, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, err := Lookup(ctx, repo, keyA, nil)
	if err != nil || got == nil || got.Digest != img.Digest || got.Size != img.Size || got.MediaType != img.MediaType {
		t.Fatalf("Lookup = %v, %v; want %v", got, err, img)
	}
	// One tag per image, and the record is a referrer-shaped artifact.
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("[dev %s%s]", TagPrefix, keyA); fmt.Sprint(tags) != want {
		t.Errorf("tags = %v, want %s", tags, want)
	}
	m, err := remote.Get(repo.Tag(TagPrefix + keyA))
	if err != nil {
		t.Fatal(err)
	}
	var man v1.Manifest
	if err := json.Unmarshal(m.Manifest, &man); err != nil || man.Subject != nil || man.ArtifactType != ArtifactType || len(man.Layers) != 1 ||
		man.Annotations[RecordAnnotation] != `{"key":"`+keyA+`","image":{"mediaType":"`+string(img.MediaType)+`","size":`+fmt.Sprint(img.Size)+`,"digest":"`+img.Digest.String()+`"}}` {
		t.Errorf("record manifest %s", m.Manifest)
	}

	missing := img
	missing.Digest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	recordOf := func(key string, d v1.Descriptor) []byte {
		b, _ := json.Marshal(record{Key: key, Image: d})
		return b
	}
	tag := r.Host + "/mono/svc:" + TagPrefix + keyB
	for _, tc := range []struct {
		name string
		put  func()
		want string
	}{
		{"garbage JSON", func() { putRecord(t, repo, keyB, []byte("{not json"), img, ArtifactType) },
			"remote cache: " + tag + ": record: invalid character 'n' looking for beginning of object key string"},
		{"unknown field", func() { putRecord(t, repo, keyB, []byte(`{"key":"`+keyB+`","image":{},"x":1}`), img, ArtifactType) },
			"remote cache: " + tag + `: record: json: unknown field "x"`},
		{"another key", func() { putRecord(t, repo, keyB, recordOf(keyA, img), img, ArtifactType) },
			"remote cache: " + tag + `: record is for key "` + keyA + `"`},
		{"image the registry lacks", func() { putRecord(t, repo, keyB, recordOf(keyB, missing), missing, ArtifactType) },
			"remote cache: " + tag + ": names image " + missing.Digest.String() + ", which " + repo.String() + " does not have"},
		{"wrong size", func() {
			d := img
			d.Size++
			putRecord(t, repo, keyB, recordOf(keyB, d), d, ArtifactType)
		}, fmt.Sprintf("remote cache: %s: names image %s (%s, %d bytes); the registry has %s (%s, %d bytes)", tag, img.Digest, img.MediaType, img.Size+1, img.Digest, img.MediaType, img.Size)},
		{"other artifact type", func() { putRecord(t, repo, keyB, recordOf(keyB, img), img, "application/x-other") },
			"remote cache: " + tag + `: not a cache record (artifact type "application/x-other", 1 blobs)`},
		{"garbage annotation", func() {
			putAnnotated(t, repo, keyB, recordOf(keyB, img), []byte("{not json"), ArtifactType, true)
		}, "remote cache: " + tag + ": record: invalid character 'n' looking for beginning of object key string"},
		{"annotation for another key", func() {
			putAnnotated(t, repo, keyB, recordOf(keyB, img), recordOf(keyA, img), ArtifactType, true)
		}, "remote cache: " + tag + `: record is for key "` + keyA + `"`},
		{"tag on the image itself", func() { pushImage(t, repo, TagPrefix+keyB) },
			"remote cache: " + tag + ": not a cache record (media type " + string(img.MediaType) + fmt.Sprintf(", %d bytes)", img.Size)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.put()
			got, err := Lookup(ctx, repo, keyB, nil)
			if got != nil {
				t.Fatalf("Lookup trusted a bad record: %v", got)
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Lookup error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
	// The annotation is the record: a lookup reads no blob (this record's
	// blob was never uploaded), and LookupImage serves the image manifest.
	putAnnotated(t, repo, keyB, recordOf(keyB, img), recordOf(keyB, img), ArtifactType, false)
	if got, err := Lookup(ctx, repo, keyB, nil); err != nil || got == nil || got.Digest != img.Digest {
		t.Fatalf("Lookup(annotated record) = %v, %v; want %v", got, err, img.Digest)
	}
	if got, err := LookupImage(ctx, repo, keyB, nil); err != nil || got == nil || got.Digest != img.Digest || got.Size != img.Size || len(got.Manifest) != int(img.Size) {
		t.Fatalf("LookupImage(annotated record) = %v, %v; want %v", got, err, img.Digest)
	}
	putAnnotated(t, repo, keyB, recordOf(keyB, missing), recordOf(keyB, missing), ArtifactType, false)
	if got, err := LookupImage(ctx, repo, keyB, nil); got != nil || err == nil || !strings.Contains(err.Error(), "which "+repo.String()+" does not have") {
		t.Fatalf("LookupImage(record of a missing image) = %v, %v", got, err)
	}
	if _, err := Lookup(ctx, repo, "ABC", nil); err == nil || err.Error() != `remote cache: invalid key "ABC"` {
		t.Errorf("bad key: %v", err)
	}
}

// TestRecordedDistribution lists the keys a repository of a real
// distribution 2.8 registry has records for: none for a missing
// repository or one with only other tags, then exactly the recorded keys
// (tags that only look like records, with a bad key, are not keys).
func TestRecordedDistribution(t *testing.T) {
	ctx := context.Background()
	r := testregistry.Start(t, launchProgram)
	repo, err := name.NewRepository(r.Host + "/mono/listed")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Recorded(ctx, repo, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("Recorded(missing repository) = %v, %v; want none", got, err)
	}
	img := pushImage(t, repo, "dev")
	pushImage(t, repo, TagPrefix+"NOTAKEY")
	if got, err = Recorded(ctx, repo, nil); err != nil || len(got) != 0 {
		t.Fatalf("Recorded(no records) = %v, %v; want none", got, err)
	}
	for _, k := range []string{keyA, keyB} {
		if err := Record(ctx, repo, k, img, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err = Recorded(ctx, repo, nil)
	if err != nil || len(got) != 2 || !got[keyA] || !got[keyB] {
		t.Fatalf("Recorded = %v, %v; want %s and %s", got, err, keyA, keyB)
	}
	// A record names the image's platform when given one, and LookupImage
	// returns it (a push then need not read the image's config).
	withPlat := img
	withPlat.Platform = &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	if err := Record(ctx, repo, keyA, withPlat, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := LookupImage(ctx, repo, keyA, nil); err != nil || got == nil || got.Platform == nil || got.Platform.String() != "linux/arm64/v8" {
		t.Fatalf("LookupImage = %+v, %v; want platform linux/arm64/v8", got, err)
	}
	if got, err := LookupImage(ctx, repo, keyB, nil); err != nil || got == nil || got.Platform != nil {
		t.Fatalf("LookupImage(record without platform) = %+v, %v; want no platform", got, err)
	}
	// Records list their image's layers by content key; RecordedLayers
	// reads them back (a record without layers lists none).
	lay := Layer{Key: strings.Repeat("c", 64), MediaType: types.OCILayer, Size: 42,
		Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("d", 64)}, DiffID: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("e", 64)}}
	notKey := lay
	notKey.Key = "not-a-key"
	if err := Record(ctx, repo, keyA, img, []Layer{lay, notKey}, nil, nil); err != nil {
		t.Fatal(err)
	}
	ls := RecordedLayers(ctx, repo, []string{keyA, keyB, strings.Repeat("f", 64)}, 2, nil)
	if len(ls) != 1 || ls[lay.Key] != lay {
		t.Fatalf("RecordedLayers = %v; want only %v", ls, lay)
	}
	// A registry that refuses the listing is an error, not "no records".
	bad, _ := name.NewRepository("127.0.0.1:1/mono/listed")
	if _, err := Recorded(ctx, bad, nil); err == nil || !strings.Contains(err.Error(), "remote cache: listing the tags of 127.0.0.1:1/mono/listed") {
		t.Fatalf("Recorded(unreachable) error = %v", err)
	}
}
