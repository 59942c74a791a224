// Package provenance writes the build provenance of an image strata
// composed: an in-toto Statement (v1) whose predicate is SLSA Provenance v1.
//
// The statement names what was built (the image or index and each platform
// image, by digest), how (the spec file's digest, the strata version), from
// what (the resolved base digests per platform and the pinned archives), and
// from which source (repository and revision, when the caller knows them).
// It holds no time stamp and every list is sorted, so building the same
// inputs again gives byte-identical provenance.
//
// The statement is plain encoding/json over the types below, not the
// in-toto protobuf bindings, whose protojson output is deliberately
// unstable from run to run. It imports nothing of strata's.
package provenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Types and URIs of the statement.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType says how to read the build definition strata writes.
	BuildType = "https://github.com/strata-build/strata/buildtypes/compose/v1"
	// BuilderID names strata as the builder.
	BuilderID = "https://github.com/strata-build/strata"
	// MediaType is the media type of an in-toto statement.
	MediaType = "application/vnd.in-toto+json"
)

// Subject is one artifact the statement is about.
type Subject struct {
	Name   string // e.g. registry.example/app@linux/amd64
	Digest string // "sha256:HEX"
}

// Dependency is one resolved input: a base image or a pinned archive.
type Dependency struct {
	Name   string // e.g. the base reference or the archive's context path
	URI    string // e.g. pkg:oci/… or the context-relative path
	Digest string // "sha256:HEX"
}

// Source is the source repository the spec was built from.
type Source struct {
	URI      string // e.g. git+https://github.com/org/repo
	Revision string // e.g. a commit hash
}

// Input is everything a statement records.
type Input struct {
	// Subjects are the built artifacts; at least one is required.
	Subjects []Subject
	// SpecPath is the spec file's path as given; SpecDigest its
	// "sha256:HEX".
	SpecPath, SpecDigest string
	// Bases are the resolved base images, one per platform.
	Bases []Dependency
	// Archives are the archive and file pins of the spec (src with sha256).
	Archives []Dependency
	// Version is strata's version.
	Version string
	// Source is the source repository, when known.
	Source Source
}

// The statement's JSON shape (in-toto Statement v1, SLSA Provenance v1).
type (
	statement struct {
		Type          string      `json:"_type"`
		Subject       []resource  `json:"subject"`
		PredicateType string      `json:"predicateType"`
		Predicate     slsaPredict `json:"predicate"`
	}
	resource struct {
		Name   string            `json:"name,omitempty"`
		URI    string            `json:"uri,omitempty"`
		Digest map[string]string `json:"digest,omitempty"`
	}
	slsaPredict struct {
		BuildDefinition buildDefinition `json:"buildDefinition"`
		RunDetails      runDetails      `json:"runDetails"`
	}
	buildDefinition struct {
		BuildType            string         `json:"buildType"`
		ExternalParameters   map[string]any `json:"externalParameters"`
		ResolvedDependencies []resource     `json:"resolvedDependencies,omitempty"`
	}
	runDetails struct {
		Builder builder `json:"builder"`
	}
	builder struct {
		ID      string            `json:"id"`
		Version map[string]string `json:"version,omitempty"`
	}
)

// Statement returns the in-toto statement for in, as indented JSON.
func Statement(in Input) ([]byte, error) {
	if len(in.Subjects) == 0 {
		return nil, errors.New("provenance: no subject")
	}
	st := statement{Type: StatementType, PredicateType: PredicateType}
	for _, s := range in.Subjects {
		r, err := res(s.Name, "", s.Digest)
		if err != nil {
			return nil, err
		}
		st.Subject = append(st.Subject, r)
	}
	sort.Slice(st.Subject, func(i, j int) bool { return st.Subject[i].Name < st.Subject[j].Name })
	ext := map[string]any{}
	if in.SpecPath != "" || in.SpecDigest != "" {
		r, err := res(in.SpecPath, "", in.SpecDigest)
		if err != nil {
			return nil, err
		}
		ext["spec"] = r
	}
	if in.Source.URI != "" || in.Source.Revision != "" {
		src := resource{URI: in.Source.URI}
		if in.Source.Revision != "" {
			src.Digest = map[string]string{"gitCommit": in.Source.Revision}
		}
		ext["source"] = src
	}
	var deps []resource
	for _, group := range [][]Dependency{in.Bases, in.Archives} {
		var part []resource
		for _, d := range group {
			r, err := res(d.Name, d.URI, d.Digest)
			if err != nil {
				return nil, err
			}
			part = append(part, r)
		}
		sort.Slice(part, func(i, j int) bool { return part[i].Name+part[i].URI < part[j].Name+part[j].URI })
		deps = append(deps, part...)
	}
	st.Predicate = slsaPredict{
		BuildDefinition: buildDefinition{BuildType: BuildType, ExternalParameters: ext, ResolvedDependencies: deps},
		RunDetails:      runDetails{Builder: builder{ID: BuilderID, Version: map[string]string{"strata": in.Version}}},
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return append(b, '\n'), nil
}

// res makes a resource descriptor with digest "ALG:HEX" split into a map.
func res(name, uri, digest string) (resource, error) {
	r := resource{Name: name, URI: uri}
	if digest == "" {
		return r, nil
	}
	for i := 0; i < len(digest); i++ {
		if digest[i] == ':' {
			r.Digest = map[string]string{digest[:i]: digest[i+1:]}
			return r, nil
		}
	}
	return r, fmt.Errorf("provenance: digest %q of %s is not ALG:HEX", digest, name+uri)
}
