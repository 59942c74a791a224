package sbom_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/santhosh-tekuri/jsonschema/v6"
	spdxjson "github.com/spdx/tools-golang/json"

	"github.com/strata-build/strata/compose/sbom"
)

// entry is one tar entry of a test layer; an empty body with dir set is a
// directory, a name starting .wh. a whiteout.
type entry struct {
	name string
	body string
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func image(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// dpkgStatus is a Debian base's /var/lib/dpkg/status: three installed
// packages and one removed with its config files left behind (not
// installed, so not in the SBOM).
const dpkgStatus = `Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Conffiles:
 /etc/debian_version 3be8d5a3e3a9aa9e8b1ee4ea3e3d6e56
 /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.

Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12985
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: netbase
Status: install ok installed
Priority: optional
Section: admin
Installed-Size: 41
Maintainer: Marco d'Itri <md@linux.it>
Architecture: all
Multi-Arch: foreign
Version: 6.4
Description: Basic TCP/IP networking system

Package: ca-certificates-java
Status: deinstall ok config-files
Priority: optional
Architecture: all
Version: 20230710~deb12u1
Description: Common CA certificates (JKS keystore)
`

// statusD are status.d entries as distroless writes them: one file per
// package, no Status field, with .md5sums files beside them.
var statusD = map[string]string{
	"tzdata":          "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nInstalled-Size: 3234\nSection: localization\nPriority: required\nDescription: time zone and daylight-saving time data\n",
	"tzdata.md5sums":  "0b4f5b8b8b8e8e0c8a1b2c3d4e5f6a7b  usr/share/zoneinfo/UTC\n",
	"media-types":     "Package: media-types\nVersion: 10.0.0\nArchitecture: all\nMaintainer: Mime-Support Packagers <team+debian-mimesupport-packagers@tracker.debian.org>\nInstalled-Size: 102\nSection: net\nPriority: standard\nMulti-Arch: foreign\nDescription: List of standard media types and their usual file extension\n",
	"openssl-removed": "Package: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n",
}

// debianBase builds a Debian-like base: a layer with the status file, a
// layer with status.d entries, and a layer that deletes one of them.
func debianBase(t *testing.T) []v1.Layer {
	t.Helper()
	var d []entry
	for _, n := range []string{"tzdata", "tzdata.md5sums", "media-types", "openssl-removed"} {
		d = append(d, entry{"var/lib/dpkg/status.d/" + n, statusD[n]})
	}
	return []v1.Layer{
		layer(t, entry{"etc/", ""}, entry{"etc/debian_version", "12.5\n"}, entry{"var/lib/dpkg/", ""}, entry{"var/lib/dpkg/status", dpkgStatus}),
		layer(t, append([]entry{{"var/lib/dpkg/status.d/", ""}}, d...)...),
		layer(t, entry{"var/lib/dpkg/status.d/.wh.openssl-removed", ""}),
	}
}

// wantDpkg lists the installed packages of the base, from dpkgStatus and
// statusD: every stanza of the status file whose Status ends "installed",
// and every status.d entry that is not deleted or an .md5sums file.
func wantDpkg(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, st := range strings.Split(dpkgStatus, "\n\n") {
		if !strings.Contains(st, "Status: install ok installed") {
			continue
		}
		out = append(out, field(st, "Package")+" "+field(st, "Version"))
	}
	for n, st := range statusD {
		if strings.HasSuffix(n, ".md5sums") || n == "openssl-removed" {
			continue
		}
		out = append(out, field(st, "Package")+" "+field(st, "Version"))
	}
	sort.Strings(out)
	if len(out) != 5 {
		t.Fatalf("fixture: want 5 installed packages, got %v", out)
	}
	return out
}

func field(stanza, name string) string {
	m := regexp.MustCompile(`(?m)^` + name + `: (.*)$`).FindStringSubmatch(stanza)
	if m == nil {
		return ""
	}
	return m[1]
}

// repoRoot is the module root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// buildExample builds the go-binary example's server and returns its bytes
// and the dependency lines `go version -m` prints for it ("path version sum").
func buildExample(t *testing.T) ([]byte, string, []string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin, "./examples/go-binary/cmd/server")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var deps []string
	var mainMod string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case len(f) >= 3 && f[0] == "dep":
			deps = append(deps, strings.Join(f[1:], " "))
		case len(f) >= 2 && f[0] == "mod":
			mainMod = f[1]
		}
	}
	if len(deps) == 0 || mainMod == "" {
		t.Fatalf("go version -m printed no module or dependency:\n%s", out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b, mainMod, deps
}

var (
	subject = sbom.Subject{Name: "registry.example/app", Platform: "linux/amd64"}
	base    = sbom.Base{Name: "registry.example/debian:12"}
)

func goExampleImage(t *testing.T) (v1.Image, []byte, string, []string) {
	bin, mainMod, deps := buildExample(t)
	layers := append(debianBase(t), layer(t,
		entry{"usr/", ""}, entry{"usr/local/bin/server", string(bin)}, entry{"etc/app.conf", "port = 8080\n"}))
	return image(t, layers...), bin, mainMod, deps
}

func generate(t *testing.T, img v1.Image, added int, f sbom.Format) []byte {
	t.Helper()
	s := subject
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	s.Digest = d
	b := base
	b.Digest = d // any digest will do for the base here
	doc, err := sbom.Generate(context.Background(), img, added, s, b, f, sbom.Options{
		Sources: map[string]string{"/usr/local/bin/server": "bin/server", "/etc/app.conf": "conf/app.conf"},
		Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Tool:    "strata-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestSPDXListsGoModulesAndDpkgPackages(t *testing.T) {
	img, bin, mainMod, wantDeps := goExampleImage(t)
	raw := generate(t, img, 1, sbom.SPDX)
	validate(t, spdxSchema(t), raw)
	doc, err := spdxjson.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the SPDX parser rejects the document: %v", err)
	}
	var gotDeps, gotDeb []string
	var gotMain string
	for _, p := range doc.Packages {
		id := string(p.PackageSPDXIdentifier)
		switch {
		case regexp.MustCompile(`^Go-\d+-main$`).MatchString(id):
			gotMain = p.PackageName
		case strings.HasPrefix(id, "Go-"):
			sum := strings.TrimPrefix(p.PackageComment, "sum ")
			gotDeps = append(gotDeps, p.PackageName+" "+p.PackageVersion+" "+sum)
		case strings.HasPrefix(id, "Package-deb-"):
			gotDeb = append(gotDeb, p.PackageName+" "+p.PackageVersion)
		}
	}
	if gotMain != mainMod {
		t.Errorf("main module %q, go version -m says %q", gotMain, mainMod)
	}
	if !slices.Equal(gotDeps, wantDeps) {
		t.Errorf("Go dependencies:\n got %q\nwant %q (go version -m)", gotDeps, wantDeps)
	}
	sort.Strings(gotDeb)
	if want := wantDpkg(t); !slices.Equal(gotDeb, want) {
		t.Errorf("dpkg packages:\n got %q\nwant %q", gotDeb, want)
	}
	// Files: path, sha256 of the content and source path.
	files := map[string]string{}
	for _, f := range doc.Files {
		for _, c := range f.Checksums {
			if c.Algorithm == "SHA256" {
				files[f.FileName] = c.Value + " " + f.FileComment
			}
		}
	}
	want := map[string]string{
		"/usr/local/bin/server": sha256Hex(bin) + " source: bin/server",
		"/etc/app.conf":         sha256Hex([]byte("port = 8080\n")) + " source: conf/app.conf",
	}
	if len(files) != len(want) {
		t.Errorf("files %v, want %v", files, want)
	}
	for p, w := range want {
		if files[p] != w {
			t.Errorf("file %s: %q, want %q", p, files[p], w)
		}
	}
	if doc.CreationInfo.Created != "2024-01-02T03:04:05Z" {
		t.Errorf("created %q, want the image's created time", doc.CreationInfo.Created)
	}
}

func TestCycloneDXListsGoModulesAndDpkgPackages(t *testing.T) {
	img, _, mainMod, wantDeps := goExampleImage(t)
	raw := generate(t, img, 1, sbom.CycloneDX)
	validate(t, cycloneDXSchema(t), raw)
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(raw), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("the CycloneDX parser rejects the document: %v", err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 {
		t.Errorf("spec version %v, want 1.6", bom.SpecVersion)
	}
	var gotDeps, gotDeb []string
	var gotMain string
	for _, c := range *bom.Components {
		switch {
		case regexp.MustCompile(`^go:\d+:main:`).MatchString(c.BOMRef):
			gotMain = c.Name
		case strings.HasPrefix(c.BOMRef, "go:"):
			sum := ""
			for _, p := range *c.Properties {
				if p.Name == "strata:go-sum" {
					sum = p.Value
				}
			}
			gotDeps = append(gotDeps, c.Name+" "+c.Version+" "+sum)
		case strings.HasPrefix(c.PackageURL, "pkg:deb/"):
			gotDeb = append(gotDeb, c.Name+" "+c.Version)
		}
	}
	if gotMain != mainMod || !slices.Equal(gotDeps, wantDeps) {
		t.Errorf("Go modules: main %q deps %q; go version -m says %q %q", gotMain, gotDeps, mainMod, wantDeps)
	}
	sort.Strings(gotDeb)
	if want := wantDpkg(t); !slices.Equal(gotDeb, want) {
		t.Errorf("dpkg packages:\n got %q\nwant %q", gotDeb, want)
	}
}

func TestSBOMIsDeterministic(t *testing.T) {
	img, _, _, _ := goExampleImage(t)
	for _, f := range []sbom.Format{sbom.SPDX, sbom.CycloneDX} {
		a := generate(t, img, 1, f)
		// A second image from the same inputs, layers made anew.
		img2, _, _, _ := goExampleImage(t)
		if b := generate(t, img2, 1, f); !bytes.Equal(a, b) {
			t.Errorf("%s: two builds gave different documents", f)
		}
		if bytes.Contains(a, []byte(time.Now().UTC().Format("2006-01-02T"))) {
			t.Errorf("%s: the document holds today's date", f)
		}
	}
}

func TestAPKPackages(t *testing.T) {
	installed := "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nC:Q1def=\nP:busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:busybox\n\n"
	img := image(t, layer(t, entry{"lib/apk/db/installed", installed}), layer(t, entry{"app/run.sh", "#!/bin/sh\n"}))
	raw := generate(t, img, 1, sbom.SPDX)
	validate(t, spdxSchema(t), raw)
	doc, err := spdxjson.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range doc.Packages {
		if strings.HasPrefix(string(p.PackageSPDXIdentifier), "Package-apk-") {
			got = append(got, p.PackageName+" "+p.PackageVersion+" "+p.PackageExternalReferences[0].Locator)
		}
	}
	want := []string{"busybox 1.36.1-r15 pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64", "musl 1.2.4-r2 pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"}
	if !slices.Equal(got, want) {
		t.Errorf("apk packages %q, want %q", got, want)
	}
}

// TestDeletedDatabaseIsNotListed: a layer of strata's that deletes the
// package database leaves no packages in the SBOM.
func TestDeletedDatabaseIsNotListed(t *testing.T) {
	layers := append(debianBase(t), layer(t, entry{"var/lib/.wh.dpkg", ""}))
	inv, err := sbom.Scan(context.Background(), image(t, layers...), 1, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 0 || len(inv.Files) != 0 {
		t.Errorf("packages %v files %v, want none", inv.Packages, inv.Files)
	}
}

func sha256Hex(b []byte) string {
	h := v1.Hash{}
	h, _, _ = v1.SHA256(bytes.NewReader(b))
	return h.Hex
}

func spdxSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	return compile(t, "http://spdx.org/rdf/terms/2.3", map[string]string{"http://spdx.org/rdf/terms/2.3": "testdata/spdx-schema-2.3.json"})
}

// cycloneDXSchema compiles the CycloneDX 1.6 schema the cyclonedx-go module
// ships, read from the module cache.
func cycloneDXSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "schema")
	return compile(t, "http://cyclonedx.org/schema/bom-1.6.schema.json", map[string]string{
		"http://cyclonedx.org/schema/bom-1.6.schema.json":  filepath.Join(dir, "bom-1.6.schema.json"),
		"http://cyclonedx.org/schema/spdx.schema.json":     filepath.Join(dir, "spdx.schema.json"),
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": filepath.Join(dir, "jsf-0.82.schemax.json"),
	})
}

func compile(t *testing.T, root string, files map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for url, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, raw []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("the document does not validate against its schema: %#v", err)
	}
	if !json.Valid(raw) {
		t.Error("not JSON")
	}
}

// countingLayer counts how often a layer's bytes are read.
type countingLayer struct {
	v1.Layer
	n *atomic.Int32
}

func (c countingLayer) Uncompressed() (io.ReadCloser, error) {
	c.n.Add(1)
	return c.Layer.Uncompressed()
}

// TestBaseMemo: with a memo, the SBOMs of two images on one base read the
// base's layers once and list exactly what they list without it.
func TestBaseMemo(t *testing.T) {
	var n atomic.Int32
	var base []v1.Layer
	for _, l := range debianBase(t) {
		base = append(base, countingLayer{l, &n})
	}
	imgA := image(t, append(append([]v1.Layer{}, base...), layer(t, entry{"srv/a.txt", "a"}))...)
	imgB := image(t, append(append([]v1.Layer{}, base...), layer(t, entry{"srv/b.txt", "b"}))...)
	var memo sbom.BaseMemo
	for _, img := range []v1.Image{imgA, imgB} {
		with, err := sbom.Scan(context.Background(), img, 1, sbom.Options{Bases: &memo})
		if err != nil {
			t.Fatal(err)
		}
		without, err := sbom.Scan(context.Background(), img, 1, sbom.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(with, without) {
			t.Errorf("with the memo:\n%+v\nwithout:\n%+v", with, without)
		}
	}
	// Two scans without the memo read the base twice; the two with it, once.
	if got, want := int(n.Load()), 3*len(base); got != want {
		t.Errorf("base layers read %d times, want %d (once with the memo, twice without)", got, want)
	}
}
