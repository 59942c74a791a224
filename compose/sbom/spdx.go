package sbom

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// NamespacePrefix starts every SPDX document namespace strata writes; the
// image digest and platform complete it.
const NamespacePrefix = "https://github.com/strata-build/strata/spdx/"

const noAssertion = "NOASSERTION"

var badIDChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxID makes an SPDX element ID from parts.
func spdxID(parts ...string) common.ElementID {
	return common.ElementID(badIDChars.ReplaceAllString(strings.Join(parts, "-"), "-"))
}

func docRef(id common.ElementID) common.DocElementID { return common.DocElementID{ElementRefID: id} }

// imageName is the name the documents give the image.
func imageName(s Subject) string {
	if s.Name != "" {
		return s.Name
	}
	return "image"
}

func writeSPDX(inv *Inventory, s Subject, b Base, o Options) ([]byte, error) {
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      fmt.Sprintf("%s@%s %s", imageName(s), s.Digest, s.Platform),
		DocumentNamespace: NamespacePrefix + s.Digest.Hex + "/" + strings.ReplaceAll(s.Platform, "/", "-"),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: o.Tool}},
			Created:  o.Created.UTC().Format(time.RFC3339),
		},
	}
	rel := func(a, r string, bid common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{RefA: docRef(common.ElementID(a)), RefB: docRef(bid), Relationship: r})
	}
	pkg := func(id common.ElementID, name, version, purl, comment string) *spdx.Package {
		p := &spdx.Package{
			PackageName: name, PackageSPDXIdentifier: id, PackageVersion: version,
			PackageDownloadLocation: noAssertion, PackageComment: comment,
		}
		if purl != "" {
			p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: purl}}
		}
		doc.Packages = append(doc.Packages, p)
		return p
	}
	img := pkg("Image", imageName(s), s.Digest.String(), ociPURL(s.Name, s.Digest.String(), s.Platform), "platform "+s.Platform)
	img.PrimaryPackagePurpose = "CONTAINER"
	img.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: s.Digest.Hex}}
	rel("DOCUMENT", "DESCRIBES", "SPDXRef-Image")
	if b.Name != "" {
		bp := pkg("Base", b.Name, b.Digest.String(), ociPURL(b.Name, b.Digest.String(), s.Platform), "the base image")
		bp.PrimaryPackagePurpose = "CONTAINER"
		if b.Digest.Hex != "" {
			bp.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: b.Digest.Hex}}
		}
		rel("SPDXRef-Image", "DESCENDANT_OF", "SPDXRef-Base")
	}
	for i, p := range inv.Packages {
		id := spdxID("Package", p.Type, p.Name, fmt.Sprint(i))
		sp := pkg(id, p.Name, p.Version, osPURL(p), "")
		if p.Source != "" {
			sp.PackageSourceInfo = "source package " + p.Source
		}
		if p.License != "" {
			sp.PackageLicenseDeclared = noAssertion
			sp.PackageLicenseComments = "apk license field: " + p.License
		}
		rel("SPDXRef-Image", "CONTAINS", id)
	}
	for i, f := range inv.Files {
		id := spdxID("File", fmt.Sprint(i))
		sf := &spdx.File{
			FileName:           f.Path,
			FileSPDXIdentifier: id,
			Checksums: []common.Checksum{
				{Algorithm: common.SHA1, Value: f.SHA1},
				{Algorithm: common.SHA256, Value: f.SHA256},
			},
			FileCopyrightText: noAssertion,
			LicenseConcluded:  noAssertion,
		}
		if f.Source != "" {
			sf.FileComment = "source: " + f.Source
		}
		if f.Go != nil {
			sf.FileTypes = []string{"BINARY"}
		}
		doc.Files = append(doc.Files, sf)
		rel("SPDXRef-Image", "CONTAINS", id)
		if f.Go == nil {
			continue
		}
		mainID := spdxID("Go", fmt.Sprint(i), "main")
		mp := pkg(mainID, f.Go.Main.Path, f.Go.Main.Version, goPURL(f.Go.Main), goComment(f.Go.Main, "main module of "+f.Path+", built by "+f.Go.GoVersion+", package "+f.Go.Path))
		mp.PrimaryPackagePurpose = "APPLICATION"
		rel(string(id), "GENERATED_FROM", mainID)
		for j, d := range f.Go.Deps {
			did := spdxID("Go", fmt.Sprint(i), fmt.Sprint(j))
			dp := pkg(did, d.Path, d.Version, goPURL(d), goComment(d, ""))
			dp.PrimaryPackagePurpose = "LIBRARY"
			rel(string(mainID), "DEPENDS_ON", did)
		}
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  ")); err != nil {
		return nil, fmt.Errorf("sbom: writing SPDX: %w", err)
	}
	return buf.Bytes(), nil
}

// goComment records what a purl cannot hold: the go.sum hash and a replacement.
func goComment(m Module, lead string) string {
	var parts []string
	if lead != "" {
		parts = append(parts, lead)
	}
	if m.Sum != "" {
		parts = append(parts, "sum "+m.Sum)
	}
	if m.Replace != nil {
		parts = append(parts, fmt.Sprintf("replaced by %s %s %s", m.Replace.Path, m.Replace.Version, m.Replace.Sum))
	}
	return strings.Join(parts, "; ")
}

// ociPURL is the package URL of an image: pkg:oci/NAME@DIGEST?repository_url=REPO.
func ociPURL(ref, digest, platform string) string {
	if digest == "" || digest == ":" {
		return ""
	}
	repo := ref
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	name := repo[strings.LastIndex(repo, "/")+1:]
	if name == "" {
		name = "image"
	}
	q := url.Values{}
	if repo != "" {
		q.Set("repository_url", repo)
	}
	if platform != "" {
		os, arch, _ := strings.Cut(platform, "/")
		q.Set("os", os)
		q.Set("arch", arch)
	}
	return "pkg:oci/" + strings.ToLower(name) + "@" + url.PathEscape(digest) + "?" + q.Encode()
}

// osPURL is the package URL of an OS package.
func osPURL(p Package) string {
	ns := "debian"
	if p.Type == "apk" {
		ns = "alpine"
	}
	u := "pkg:" + p.Type + "/" + ns + "/" + url.PathEscape(p.Name) + "@" + url.PathEscape(p.Version)
	if p.Arch != "" {
		u += "?arch=" + url.QueryEscape(p.Arch)
	}
	return u
}

// goPURL is the package URL of a Go module.
func goPURL(m Module) string {
	if m.Version == "" || m.Version == "(devel)" {
		return "pkg:golang/" + m.Path
	}
	return "pkg:golang/" + m.Path + "@" + url.PathEscape(m.Version)
}
