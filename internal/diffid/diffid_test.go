package diffid

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestReader: the stream that hashes to the diffID ends with io.EOF; any
// other ends with an error naming both hashes, at its end only.
func TestReader(t *testing.T) {
	sum := sha256.Sum256([]byte("layer"))
	good := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	for _, tc := range []struct {
		content string
		want    v1.Hash
		err     string
	}{
		{"layer", good, ""},
		{"other", good, "but the config's diff_id is " + good.String()},
		{"layer", v1.Hash{Algorithm: "sha512", Hex: good.Hex}, "but the config's diff_id is sha512:"},
	} {
		b, err := io.ReadAll(Reader(strings.NewReader(tc.content), tc.want))
		if string(b) != tc.content {
			t.Errorf("%q: read %q", tc.content, b)
		}
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q against %s: %v, want %q", tc.content, tc.want, err, tc.err)
		}
	}
}
