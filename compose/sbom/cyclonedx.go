package sbom

import (
	"bytes"
	"fmt"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

func writeCycloneDX(inv *Inventory, s Subject, b Base, o Options) ([]byte, error) {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuidFrom(s.Digest.Hex, s.Platform)
	imgRef := "image:" + s.Digest.String()
	bom.Metadata = &cdx.Metadata{
		Timestamp: o.Created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: o.Tool,
		}}},
		Component: &cdx.Component{
			BOMRef: imgRef, Type: cdx.ComponentTypeContainer, Name: imageName(s), Version: s.Digest.String(),
			PackageURL: ociPURL(s.Name, s.Digest.String(), s.Platform),
			Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: s.Digest.Hex}},
			Properties: &[]cdx.Property{{Name: "strata:platform", Value: s.Platform}},
		},
	}
	var comps []cdx.Component
	var deps []cdx.Dependency
	var top []string
	if b.Name != "" {
		ref := "base:" + b.Digest.String()
		c := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeContainer, Name: b.Name, Version: b.Digest.String(),
			PackageURL: ociPURL(b.Name, b.Digest.String(), s.Platform)}
		if b.Digest.Hex != "" {
			c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: b.Digest.Hex}}
		}
		comps = append(comps, c)
		top = append(top, ref)
	}
	for i, p := range inv.Packages {
		ref := fmt.Sprintf("os:%d:%s", i, osPURL(p))
		c := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: osPURL(p)}
		props := []cdx.Property{{Name: "strata:package-type", Value: p.Type}}
		if p.Source != "" {
			props = append(props, cdx.Property{Name: "strata:source-package", Value: p.Source})
		}
		if p.License != "" {
			props = append(props, cdx.Property{Name: "strata:apk-license", Value: p.License})
		}
		c.Properties = &props
		comps = append(comps, c)
		top = append(top, ref)
	}
	for i, f := range inv.Files {
		ref := fmt.Sprintf("file:%d:%s", i, f.Path)
		c := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeFile, Name: f.Path,
			Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA1, Value: f.SHA1}, {Algorithm: cdx.HashAlgoSHA256, Value: f.SHA256}}}
		props := []cdx.Property{{Name: "strata:size", Value: fmt.Sprint(f.Size)}}
		if f.Source != "" {
			props = append(props, cdx.Property{Name: "strata:source", Value: f.Source})
		}
		if f.Go != nil {
			props = append(props, cdx.Property{Name: "strata:go-version", Value: f.Go.GoVersion}, cdx.Property{Name: "strata:go-package", Value: f.Go.Path})
		}
		c.Properties = &props
		comps = append(comps, c)
		top = append(top, ref)
		if f.Go == nil {
			continue
		}
		mainRef := fmt.Sprintf("go:%d:main:%s", i, f.Go.Main.Path)
		comps = append(comps, goComponent(mainRef, f.Go.Main, cdx.ComponentTypeApplication))
		deps = append(deps, cdx.Dependency{Ref: ref, Dependencies: &[]string{mainRef}})
		var mdeps []string
		for j, d := range f.Go.Deps {
			r := fmt.Sprintf("go:%d:%d:%s", i, j, d.Path)
			comps = append(comps, goComponent(r, d, cdx.ComponentTypeLibrary))
			mdeps = append(mdeps, r)
		}
		if len(mdeps) > 0 {
			deps = append(deps, cdx.Dependency{Ref: mainRef, Dependencies: &mdeps})
		}
	}
	if len(top) > 0 {
		deps = append([]cdx.Dependency{{Ref: imgRef, Dependencies: &top}}, deps...)
	}
	if len(comps) > 0 {
		bom.Components = &comps
	}
	if len(deps) > 0 {
		bom.Dependencies = &deps
	}
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("sbom: writing CycloneDX: %w", err)
	}
	return buf.Bytes(), nil
}

func goComponent(ref string, m Module, t cdx.ComponentType) cdx.Component {
	c := cdx.Component{BOMRef: ref, Type: t, Name: m.Path, Version: m.Version, PackageURL: goPURL(m)}
	var props []cdx.Property
	if m.Sum != "" {
		props = append(props, cdx.Property{Name: "strata:go-sum", Value: m.Sum})
	}
	if m.Replace != nil {
		props = append(props, cdx.Property{Name: "strata:go-replace", Value: m.Replace.Path + " " + m.Replace.Version + " " + m.Replace.Sum})
	}
	if len(props) > 0 {
		c.Properties = &props
	}
	return c
}

// uuidFrom derives a version-5-shaped UUID from the image digest and
// platform, so the serial number is the same on every rebuild.
func uuidFrom(hex, platform string) string {
	h := sha256Hex(hex + " " + platform)
	b := []byte(h[:32])
	b[12] = '5'
	b[16] = "89ab"[int(b[16])%4]
	return fmt.Sprintf("%s-%s-%s-%s-%s", b[0:8], b[8:12], b[12:16], b[16:20], b[20:32])
}
