package lock

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// sample is a lock as strata writes it.
func sample() *Lock {
	return &Lock{
		Version:         Version,
		Base:            Base{Ref: "nginx:1.27-alpine", Digest: d1, Platforms: map[string]string{"linux/arm64": d2, "linux/amd64": d1}},
		Sources:         map[string]string{"vendor/b.tar.gz": d2, "vendor/a.tar": d1},
		SourceDateEpoch: 1700000000,
		Result: Result{Digest: d2, Platforms: map[string]Platform{
			"linux/amd64": {Digest: d1, Layers: []Layer{{Name: "site", Digest: d2}}},
			"linux/arm64": {Digest: d2},
		}},
	}
}

// goldenLock is sample() marshalled: a fixed key order (fields as
// declared, map keys sorted), one fact per line, a trailing newline.
const goldenLock = `{
  "version": 1,
  "base": {
    "ref": "nginx:1.27-alpine",
    "digest": "` + d1 + `",
    "platforms": {
      "linux/amd64": "` + d1 + `",
      "linux/arm64": "` + d2 + `"
    }
  },
  "sources": {
    "vendor/a.tar": "` + d1 + `",
    "vendor/b.tar.gz": "` + d2 + `"
  },
  "sourceDateEpoch": 1700000000,
  "result": {
    "digest": "` + d2 + `",
    "platforms": {
      "linux/amd64": {
        "digest": "` + d1 + `",
        "layers": [
          {
            "name": "site",
            "digest": "` + d2 + `"
          }
        ]
      },
      "linux/arm64": {
        "digest": "` + d2 + `"
      }
    }
  }
}
`

func TestMarshalIsStable(t *testing.T) {
	for range 3 { // map order must not leak into the bytes
		b, err := sample().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != goldenLock {
			t.Fatalf("Marshal =\n%s\nwant\n%s", b, goldenLock)
		}
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "image.lock.json")
	if err := Write(p, sample()); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sample()) {
		t.Errorf("read back %+v, want %+v", got, sample())
	}
	b, _ := os.ReadFile(p)
	if string(b) != goldenLock {
		t.Errorf("file =\n%s", b)
	}
}

func TestReadMissing(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "image.lock.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not json", "{\n  \"version\": 1,\n  oops\n}", `x.lock.json: not a strata lock file: line 3, column 3: invalid character 'o' looking for beginning of object key string`},
		{"unknown key", `{"version": 1, "bases": {}}`, `x.lock.json: not a strata lock file: json: unknown field "bases"`},
		{"wrong type", "{\n\"version\": \"1\"}", `x.lock.json: not a strata lock file: line 2, column 15: json: cannot unmarshal string into Go struct field Lock.version of type int`},
		{"version", `{"version": 2}`, `x.lock.json: lock file version 2, this strata reads version 1`},
		{"no base", `{"version": 1, "result": {"digest": "` + d1 + `"}}`, `x.lock.json: base.ref: missing`},
		{"bad base digest", `{"version": 1, "base": {"ref": "a", "digest": "sha256:12"}}`, `x.lock.json: base.digest: "sha256:12" is not a sha256 digest`},
		{"bad source", `{"version": 1, "base": {"ref": "a"}, "sources": {"x.tar": "md5:00"}}`, `x.lock.json: sources.x.tar: "md5:00" is not a sha256 digest`},
		{"no result", `{"version": 1, "base": {"ref": "a"}, "result": {"digest": "` + d1 + `"}}`, `x.lock.json: result.platforms: missing`},
		{"bad layer", `{"version": 1, "base": {"ref": "a"}, "result": {"digest": "` + d1 + `", "platforms": {"linux/amd64": {"digest": "` + d1 + `", "layers": [{"name": "x", "digest": ""}]}}}}`,
			`x.lock.json: result.platforms.linux/amd64.layers[0].digest: "" is not a sha256 digest`},
		{"negative epoch", `{"version": 1, "base": {"ref": "a"}, "sourceDateEpoch": -1}`, `x.lock.json: sourceDateEpoch: -1 is negative`},
		{"trailing data", `{"version": 1} {}`, `x.lock.json: not a strata lock file: data after the JSON object`},
		{"too large", strings.Repeat(" ", MaxSize+1), `x.lock.json: lock file larger than 1048576 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.lock.json", []byte(tc.in))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse error\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	cuePkg := filepath.Join(dir, "svc")
	if err := os.Mkdir(cuePkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"image.yaml":            "image.lock.json",
		"deploy/api.yml":        "deploy/api.lock.json",
		"image.cue":             "image.lock.json",
		"image.yaml.example":    "image.lock.json",
		"a.b/site.yaml":         "a.b/site.lock.json",
		cuePkg:                  filepath.Join(cuePkg, "image.lock.json"),
		filepath.Join(dir, "x"): filepath.Join(dir, "x.lock.json"),
	} {
		if got := Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: Parse never panics, and whatever it accepts marshals to bytes
// it parses back to the same lock.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goldenLock))
	f.Add([]byte(`{"version": 1, "base": {"ref": "scratch"}, "result": {"digest": "` + d1 + `", "platforms": {"linux/amd64": {"digest": "` + d1 + `"}}}}`))
	f.Add([]byte(`{"version": 1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse("fuzz.lock.json", data)
		if err != nil {
			return
		}
		b, err := l.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed lock: %v", err)
		}
		again, err := Parse("again.lock.json", b)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		b2, _ := again.Marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}
