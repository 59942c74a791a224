package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/strata-build/strata/compose/remotecache"
)

// cachePoison rewrites every registry cache record in REPO the way a
// broken or hostile writer would:
//
//	cachepoison REPO garbage   # the record (blob and annotation) is not JSON
//	cachepoison REPO missing   # the record names an image REPO lacks
//	cachepoison REPO badlayers # its layers name blobs REPO lacks, or with another size
//	cachepoison REPO swaplayers # each layer key names another layer's blob
//	cachepoison REPO wrongsize # the record names the image with another size
//	cachepoison REPO basefiles # the base-files records hold a file of an unknown kind
//	cachepoison REPO evilinv   # their inventories, still well-formed, name evilpkg for basepkg
//
// Base-files records are left alone by the other modes, and the image
// records by basefiles.
func cachePoison(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cachepoison REPO garbage|missing|wrongsize")
	}
	repo, err := name.NewRepository(args[0])
	ts.Check(err)
	tags, err := remote.List(repo)
	ts.Check(err)
	n := 0
	for _, t := range tags {
		_, ok := strings.CutPrefix(t, remotecache.TagPrefix)
		if !ok || strings.HasPrefix(t, remotecache.BaseTagPrefix) != (args[1] == "basefiles" || args[1] == "evilinv") {
			continue
		}
		n++
		if args[1] == "basefiles" || args[1] == "evilinv" {
			poisonBaseFiles(ts, repo, t, args[1] == "evilinv")
			continue
		}
		got, err := remote.Get(repo.Tag(t))
		ts.Check(err)
		var m v1.Manifest
		ts.Check(json.Unmarshal(got.Manifest, &m))
		l, err := remote.Layer(repo.Digest(m.Layers[0].Digest.String()))
		ts.Check(err)
		rc, err := l.Compressed()
		ts.Check(err)
		var rec struct {
			Key   string        `json:"key"`
			Image v1.Descriptor `json:"image"`
		}
		ts.Check(json.NewDecoder(rc).Decode(&rec))
		rc.Close()
		var blob []byte
		switch args[1] {
		case "swaplayers":
			// Each listed layer key names the next layer's blob, diffID and
			// size: blobs the repository has, of other content.
			var ls []map[string]any
			ts.Check(json.Unmarshal([]byte(m.Annotations[remotecache.LayersAnnotation]), &ls))
			if len(ls) < 2 {
				ts.Fatalf("cachepoison swaplayers: %s lists %d layers", t, len(ls))
			}
			keys := make([]any, len(ls))
			for k := range ls {
				keys[k] = ls[(k+1)%len(ls)]["key"]
			}
			for k := range ls {
				ls[k]["key"] = keys[k]
			}
			ab, err := json.Marshal(ls)
			ts.Check(err)
			m.Annotations[remotecache.LayersAnnotation] = string(ab)
			mb, err := json.Marshal(m)
			ts.Check(err)
			ts.Check(remote.Put(repo.Tag(t), rawOCIManifest(mb)))
			continue
		case "badlayers":
			// The record stays valid; its layers name blobs the
			// repository lacks, and one names another blob of another
			// size.
			var ls []any
			ts.Check(json.Unmarshal([]byte(m.Annotations[remotecache.LayersAnnotation]), &ls))
			if len(ls) == 0 {
				ts.Fatalf("cachepoison badlayers: %s lists no layers", t)
			}
			for k, l := range ls {
				lm := l.(map[string]any)
				if k == 0 {
					lm["digest"] = "sha256:" + strings.Repeat("0", 64)
				} else {
					lm["digest"], lm["size"] = m.Layers[0].Digest.String(), m.Layers[0].Size+1
				}
			}
			ab, err := json.Marshal(ls)
			ts.Check(err)
			m.Annotations[remotecache.LayersAnnotation] = string(ab)
			mb, err := json.Marshal(m)
			ts.Check(err)
			ts.Check(remote.Put(repo.Tag(t), rawOCIManifest(mb)))
			continue
		case "garbage":
			blob = []byte("{garbage")
		case "missing":
			rec.Image.Digest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
			blob, _ = json.Marshal(rec)
		case "wrongsize":
			rec.Image.Size++
			blob, _ = json.Marshal(rec)
		default:
			ts.Fatalf("cachepoison: unknown mode %q", args[1])
		}
		bl := static.NewLayer(blob, remotecache.ArtifactType)
		ts.Check(remote.WriteLayer(repo, bl))
		d, _ := bl.Digest()
		m.Layers[0].Digest, m.Layers[0].Size = d, int64(len(blob))
		// A hostile writer controls the annotation as much as the blob.
		if _, ok := m.Annotations[remotecache.RecordAnnotation]; ok {
			m.Annotations[remotecache.RecordAnnotation] = string(blob)
		}
		mb, err := json.Marshal(m)
		ts.Check(err)
		ts.Check(remote.Put(repo.Tag(t), rawOCIManifest(mb)))
	}
	if n == 0 {
		ts.Fatalf("cachepoison: no %s* tag in %s", remotecache.TagPrefix, repo)
	}
}

// poisonBaseFiles rewrites the base-files record tag of repo: the same
// files, plus one of a kind no reader takes (a path, as a hostile writer
// would try).
func poisonBaseFiles(ts *testscript.TestScript, repo name.Repository, tag string, inv bool) {
	got, err := remote.Get(repo.Tag(tag))
	ts.Check(err)
	var m v1.Manifest
	ts.Check(json.Unmarshal(got.Manifest, &m))
	l, err := remote.Layer(repo.Digest(m.Layers[0].Digest.String()))
	ts.Check(err)
	rc, err := l.Compressed()
	ts.Check(err)
	var bf map[string]any
	ts.Check(json.NewDecoder(rc).Decode(&bf))
	rc.Close()
	files := bf["files"].([]any)
	if inv {
		for _, f := range files {
			fm := f.(map[string]any)
			if fm["kind"] != remotecache.BaseInventory {
				continue
			}
			data, _ := base64.StdEncoding.DecodeString(fm["data"].(string))
			body := data[:len(data)-len("sha256 \n")-64]
			var f2 map[string]any
			js := body[len("strata-sbom-inventory 1\n"):]
			ts.Check(json.Unmarshal(js, &f2))
			for _, o := range f2["ops"].([]any) {
				om := o.(map[string]any)
				if db, ok := om["db"].(string); ok {
					raw, _ := base64.StdEncoding.DecodeString(db)
					om["db"] = base64.StdEncoding.EncodeToString(bytes.ReplaceAll(raw, []byte("basepkg"), []byte("evilpkg")))
				}
			}
			nb, _ := json.Marshal(f2)
			out := append([]byte("strata-sbom-inventory 1\n"), nb...)
			out = append(out, '\n')
			sum := sha256.Sum256(out)
			out = append(out, []byte(fmt.Sprintf("sha256 %x\n", sum))...)
			fm["data"] = out
		}
	} else {
		evil := map[string]any{}
		for k, v := range files[0].(map[string]any) {
			evil[k] = v
		}
		evil["kind"] = "../../../../tmp/evil"
		bf["files"] = append(files, evil)
	}
	blob, err := json.Marshal(bf)
	ts.Check(err)
	bl := static.NewLayer(blob, remotecache.BaseFilesType)
	ts.Check(remote.WriteLayer(repo, bl))
	d, _ := bl.Digest()
	m.Layers[0].Digest, m.Layers[0].Size = d, int64(len(blob))
	mb, err := json.Marshal(m)
	ts.Check(err)
	ts.Check(remote.Put(repo.Tag(tag), rawOCIManifest(mb)))
}

// rawOCIManifest is an OCI manifest put as it is.
type rawOCIManifest []byte

func (m rawOCIManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawOCIManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
