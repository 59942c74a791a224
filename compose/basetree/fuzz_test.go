package basetree

import (
	"archive/tar"
	"bytes"
	"context"
	"path"
	"strings"
	"testing"
)

// hostileTar is a layer tar with names a base must not be trusted with.
func hostileTar() []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Name: "../escape", Typeflag: tar.TypeReg},
		{Name: "a/../../b", Typeflag: tar.TypeReg},
		{Name: "./", Typeflag: tar.TypeDir},
		{Name: "/abs/x", Typeflag: tar.TypeReg},
		{Name: "./rel//y/./z", Typeflag: tar.TypeReg},
		{Name: "d/.wh..wh..opq", Typeflag: tar.TypeReg},
		{Name: "d/.wh.gone", Typeflag: tar.TypeReg},
		{Name: ".wh..", Typeflag: tar.TypeReg},
		{Name: "loop1", Typeflag: tar.TypeSymlink, Linkname: "loop2"},
		{Name: "loop2", Typeflag: tar.TypeSymlink, Linkname: "/loop1/x"},
		{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../etc"},
		{Name: "dev/null", Typeflag: tar.TypeChar},
		{Name: strings.Repeat("n/", 2100) + "x", Typeflag: tar.TypeReg},
	} {
		tw.WriteHeader(h)
	}
	tw.Close()
	return b.Bytes()
}

func TestScanHeadersHostile(t *testing.T) {
	recs, err := scanHeaders(context.Background(), bytes.NewReader(hostileTar()), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, string(r.kind)+" "+r.name+" "+r.link)
	}
	want := []string{"f abs/x ", "f rel/y/z ", "o d ", "w d/gone ", "l loop1 loop2", "l loop2 /loop1/x", "l up ../../../../etc", "c dev/null "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records:\n%q\nwant:\n%q", got, want)
	}
	tr := newTree()
	tr.apply(recs, -1)
	if n := tr.resolve("loop1/x", true); n != nil {
		t.Errorf("a symlink loop resolved to %+v", n)
	}
	if n, at, _ := tr.walk("up", true, func(*tnode, string) *tnode { return nil }); n != nil || at != "etc" {
		t.Errorf("up resolved to %+v at %q; want nothing at etc (/etc is not in the tree, and .. stops at the root)", n, at)
	}
}

// FuzzBaseLayerHeaders feeds arbitrary bytes as a base layer's tar stream:
// no panic, every record normalised, the on-disk index round-trips, and
// applying and resolving the records terminates.
func FuzzBaseLayerHeaders(f *testing.F) {
	f.Add(hostileTar())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := scanHeaders(context.Background(), bytes.NewReader(data), nil)
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.name == "" && r.kind != recOpaque || strings.HasPrefix(r.name, "/") || len(r.name) > maxTreeName ||
				r.name != "" && path.Clean(r.name) != r.name || strings.Contains("/"+r.name+"/", "/../") {
				t.Fatalf("record not normalised: %+v", r)
			}
		}
		enc, err := encodeTreeIndex(recs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeTreeIndex(bytes.NewReader(enc))
		if err != nil || len(back) != len(recs) {
			t.Fatalf("round trip: %d records, %v; want %d", len(back), err, len(recs))
		}
		for i := range recs {
			if back[i] != recs[i] {
				t.Fatalf("record %d: %+v, want %+v", i, back[i], recs[i])
			}
		}
		tr := newTree()
		tr.apply(recs, -1)
		for _, r := range recs {
			tr.resolve(r.name, true)
		}
	})
}
