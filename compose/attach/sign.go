package attach

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/provenance"
	"github.com/strata-build/strata/compose/sign"
)

// SPDXPredicateType and CycloneDXPredicateType are the in-toto predicate
// types of signed SBOM attestations (as cosign attest --type spdxjson and
// cyclonedx write them).
const (
	SPDXPredicateType      = "https://spdx.dev/Document"
	CycloneDXPredicateType = "https://cyclonedx.org/bom"
)

// TaggedImage is a signature or attestation image and the tag cosign
// reads it from.
type TaggedImage struct {
	Image v1.Image
	Tag   name.Tag
}

// Signatures signs res for each repository in repos with s, in the formats
// cosign verifies: a signature of the artifact's digest and of each platform
// image's digest (sha256-HEX.sig), and attestations (sha256-HEX.att) of the
// provenance (on the artifact) and of each SBOM (on its platform image),
// taken from atts. The images depend only on their inputs and the key, so
// signing again gives the same images.
func Signatures(res *compose.Result, atts []Document, repos []name.Repository, s *sign.Signer) ([]TaggedImage, error) {
	digests := []v1.Hash{res.Digest}
	for _, pr := range res.Platforms {
		if pr.Digest != res.Digest {
			digests = append(digests, pr.Digest)
		}
	}
	stmts := map[v1.Hash][]sign.Statement{}
	for _, a := range atts {
		switch a.Kind {
		case "provenance":
			stmts[a.Subject] = append(stmts[a.Subject], sign.Statement{PredicateType: provenance.PredicateType, Data: a.Data})
		case "sbom":
			pt := SPDXPredicateType
			if a.MediaType != "application/spdx+json" {
				pt = CycloneDXPredicateType
			}
			st, err := sign.InToto(pt, a.Data, a.Platform, a.Subject)
			if err != nil {
				return nil, err
			}
			stmts[a.Subject] = append(stmts[a.Subject], sign.Statement{PredicateType: pt, Data: st})
		}
	}
	var out []TaggedImage
	for _, repo := range repos {
		for _, d := range digests {
			img, err := s.SignImage(repo.Name(), d)
			if err != nil {
				return nil, fmt.Errorf("signing %s@%s: %w", repo.Name(), d, err)
			}
			out = append(out, TaggedImage{Image: img, Tag: repo.Tag(sign.SignatureTag(d))})
			if len(stmts[d]) == 0 {
				continue
			}
			att, err := s.Attest(stmts[d])
			if err != nil {
				return nil, fmt.Errorf("attesting %s@%s: %w", repo.Name(), d, err)
			}
			out = append(out, TaggedImage{Image: att, Tag: repo.Tag(sign.AttestationTag(d))})
		}
	}
	return out, nil
}
