package remotecache

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/internal/testregistry"
)

func diffID(c string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(c, 64)} }

// putBaseRaw writes a hand-made base-files record, as a hostile or broken
// writer would.
func putBaseRaw(t *testing.T, repo name.Repository, base string, blob []byte, artifactType string) {
	t.Helper()
	cfg := static.NewLayer([]byte("{}"), emptyType)
	b := static.NewLayer(blob, types.MediaType(artifactType))
	for _, l := range []v1.Layer{cfg, b} {
		if err := remote.WriteLayer(repo, l); err != nil {
			t.Fatal(err)
		}
	}
	cd, _ := cfg.Digest()
	bd, _ := b.Digest()
	m, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config: v1.Descriptor{MediaType: emptyType, Digest: cd, Size: 2},
		Layers: []v1.Descriptor{{MediaType: types.MediaType(artifactType), Digest: bd, Size: int64(len(blob))}}})
	if err := remote.Put(BaseTag(repo, base, []v1.Hash{diffID("a")}), rawManifest(m)); err != nil {
		t.Fatal(err)
	}
}

func TestBaseFilesDistribution(t *testing.T) {
	ctx := context.Background()
	r := testregistry.Start(t, launchProgram)
	repo, err := name.NewRepository(r.Host + "/mono/app")
	if err != nil {
		t.Fatal(err)
	}
	const base = "registry.example/base:1"
	ab := []v1.Hash{diffID("a"), diffID("b")}
	if got, err := GetBaseFiles(ctx, repo, base, ab, nil); got != nil || err != nil {
		t.Fatalf("GetBaseFiles before Put = %v, %v; want a miss", got, err)
	}
	if l, err := List(ctx, repo, nil); err != nil || !l.Missing {
		t.Fatalf("List(a repository the registry does not know) = %+v, %v; want Missing", l, err)
	}
	files := []BaseFile{
		{Kind: BaseIndex, DiffID: diffID("a"), Data: []byte("index of a")},
		{Kind: BaseInventory, DiffID: diffID("a"), Data: []byte("inventory of a")},
		{Kind: BaseIndex, DiffID: diffID("b"), Data: []byte("index of b")},
	}
	if err := PutBaseFiles(ctx, repo, base, ab, files, nil, nil); err != nil {
		t.Fatal(err)
	}
	// One listing tells the base record from image records.
	l, err := List(ctx, repo, nil)
	if err != nil || l.Missing || len(l.Keys) != 0 || len(l.Bases) != 1 || !l.Bases[BaseKey(base, ab)] {
		t.Fatalf("List = %+v, %v; want only the base record %s", l, err, BaseKey(base, ab))
	}
	// The key is the base and its diffIDs, in any order.
	got, err := GetBaseFiles(ctx, repo, base, []v1.Hash{diffID("b"), diffID("a"), diffID("a")}, nil)
	if err != nil || len(got) != 3 || got[0].Kind != BaseIndex || !bytes.Equal(got[1].Data, []byte("inventory of a")) || got[1].DiffID != diffID("a") {
		t.Fatalf("GetBaseFiles(b, a) = %+v, %v; want the three files", got, err)
	}
	// Another base, or the same base resolved to other layers (moved, or
	// another platform), has no record.
	for _, tc := range []struct {
		base string
		ids  []v1.Hash
	}{{"registry.example/other:1", ab}, {base, []v1.Hash{diffID("a")}}, {base, []v1.Hash{diffID("a"), diffID("c")}}} {
		if got, err := GetBaseFiles(ctx, repo, tc.base, tc.ids, nil); got != nil || err != nil {
			t.Fatalf("GetBaseFiles(%s, %v) = %v, %v; want a miss", tc.base, tc.ids, got, err)
		}
	}

	// Records that do not check are errors (the caller warns and reads the
	// base itself).
	good, _ := json.Marshal(baseFiles{Base: base, Files: files[:1]})
	for _, tc := range []struct {
		name, artifactType, err string
		blob                    []byte
	}{
		{"other artifact type", ArtifactType, "is not a base-files record", good},
		{"another base's files", BaseFilesType, `holds the files of base "registry.example/evil:1"`,
			mustJSON(t, baseFiles{Base: "registry.example/evil:1", Files: files[:1]})},
		{"unknown kind", BaseFilesType, `a file of kind "../../etc/passwd"`,
			mustJSON(t, baseFiles{Base: base, Files: []BaseFile{{Kind: "../../etc/passwd", DiffID: diffID("a"), Data: []byte("x")}}})},
		{"bad diffID", BaseFilesType, "non-hex character",
			mustJSON(t, baseFiles{Base: base, Files: []BaseFile{{Kind: BaseIndex, DiffID: v1.Hash{Algorithm: "sha256", Hex: "../x"}, Data: []byte("x")}}})},
		{"unknown field", BaseFilesType, "unknown field", []byte(`{"base":"` + base + `","files":[],"extra":1}`)},
		{"not JSON", BaseFilesType, "invalid character", []byte("not json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			putBaseRaw(t, repo, base, tc.blob, tc.artifactType)
			got, err := GetBaseFiles(ctx, repo, base, []v1.Hash{diffID("a")}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.err) || got != nil {
				t.Errorf("GetBaseFiles = %v, %v; want an error with %q", got, err, tc.err)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
