package attach

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/compose/provenance"
)

// provenanceOf makes the provenance statement of res, attached to the
// artifact itself: the digest a tag points at.
func provenanceOf(res *compose.Result, o Options) (Document, error) {
	name := o.Name
	if name == "" {
		name = "image"
	}
	in := provenance.Input{
		Subjects: []provenance.Subject{{Name: name, Digest: res.Digest.String()}},
		SpecPath: o.SpecFile, Version: o.Version, Source: o.Source,
	}
	if o.SpecFile != "" {
		d, err := specDigest(o.SpecFile)
		if err != nil {
			return Document{}, fmt.Errorf("provenance: %w", err)
		}
		in.SpecDigest = d
	}
	for _, pr := range res.Platforms {
		if res.Artifact.Index != nil {
			in.Subjects = append(in.Subjects, provenance.Subject{Name: name + "@" + pr.Platform.String(), Digest: pr.Digest.String()})
		}
		if pr.BaseDigest != (v1.Hash{}) {
			in.Bases = append(in.Bases, provenance.Dependency{Name: res.BaseName + "@" + pr.Platform.String(), URI: res.BaseName, Digest: pr.BaseDigest.String()})
		}
	}
	if res.Spec != nil {
		for _, l := range res.Spec.Layers {
			for _, f := range l.Files {
				if f.Sha256 != "" {
					in.Archives = append(in.Archives, provenance.Dependency{Name: f.Src, URI: f.Src, Digest: "sha256:" + f.Sha256})
				}
			}
		}
	}
	doc, err := provenance.Statement(in)
	if err != nil {
		return Document{}, err
	}
	desc, err := artifactDescriptor(res)
	if err != nil {
		return Document{}, err
	}
	ref, err := oci.NewReferrer(desc, provenance.MediaType, []oci.Document{{MediaType: provenance.MediaType, Data: doc,
		Annotations: map[string]string{oci.TitleAnnotation: "provenance.intoto.json"}}},
		map[string]string{"in-toto.io/predicate-type": provenance.PredicateType})
	if err != nil {
		return Document{}, err
	}
	return Document{Kind: "provenance", Subject: res.Digest, MediaType: provenance.MediaType, Data: doc, Referrer: ref}, nil
}

// artifactDescriptor describes res's image or index.
func artifactDescriptor(res *compose.Result) (v1.Descriptor, error) {
	var (
		mt   string
		size int64
	)
	if res.Artifact.Index != nil {
		m, err := res.Artifact.Index.MediaType()
		if err != nil {
			return v1.Descriptor{}, err
		}
		if size, err = res.Artifact.Index.Size(); err != nil {
			return v1.Descriptor{}, err
		}
		mt = string(m)
	} else {
		m, err := res.Artifact.Image.MediaType()
		if err != nil {
			return v1.Descriptor{}, err
		}
		if size, err = res.Artifact.Image.Size(); err != nil {
			return v1.Descriptor{}, err
		}
		mt = string(m)
	}
	return v1.Descriptor{MediaType: types.MediaType(mt), Digest: res.Digest, Size: size}, nil
}

// specDigest is the sha256 of a spec file, or, for a CUE package directory,
// of its .cue files: each file's name, a NUL, its content's sha256 and a
// newline, in name order.
func specDigest(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(sum[:]), nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range ents { // ReadDir sorts by name
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".cue") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(path, e.Name()))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%x\n", e.Name(), sha256.Sum256(b))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
