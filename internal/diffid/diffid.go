// Package diffid checks an uncompressed layer stream against the diffID an
// image's config claims for it. A diffID read from a registry is only a
// claim; whatever is kept under it (a header index, an SBOM inventory)
// must come from a stream that hashed to it.
//
// It imports nothing of strata's.
package diffid

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Reader returns r, hashed as it is read: at r's end it returns io.EOF
// only when the bytes read hash to want, and otherwise an error that says
// both hashes. A caller must read it to its end before trusting what it
// read.
func Reader(r io.Reader, want v1.Hash) io.Reader {
	return &reader{r: r, want: want, h: sha256.New()}
}

type reader struct {
	r    io.Reader
	want v1.Hash
	h    hash.Hash
}

func (c *reader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(c.h.Sum(nil)); c.want.Algorithm != "sha256" || got != c.want.Hex {
			return n, fmt.Errorf("uncompressed content hashes to sha256:%s, but the config's diff_id is %s", got, c.want)
		}
	}
	return n, err
}
