// Package store looks after strata's local disk: the local image store (an
// OCI image layout that build writes to by default) and the build cache
// (base blobs, layer blobs and their records).
//
//   - [Images] lists the images of a store.
//   - [Prune] removes store images and cache entries older than a duration
//     or beyond a total size, oldest first.
//   - [Use] marks a directory as in use by this process for as long as it
//     runs; Prune refuses to touch a directory another process uses.
//
// Every strata command that reads or writes the cache or the store holds
// [Use] on it, shared; Prune takes the same lock exclusively and without
// waiting, so it never removes what a running build, plan or push is
// reading or has just written and not yet recorded.
package store

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/strata-build/strata/compose/oci"
)

// Image is one image of the store.
type Image struct {
	// Ref is the name the image has in the store (repository:tag).
	Ref       string    `json:"ref"`
	Digest    string    `json:"digest"`
	MediaType string    `json:"mediaType"`
	Size      int64     `json:"size"`    // bytes of every blob it reaches
	Written   time.Time `json:"written"` // when it was last written
}

// Images lists the images of the store dir (an OCI layout), sorted by ref.
// A store that does not exist yet has none.
func Images(dir string) ([]Image, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	lis, err := oci.LayoutImages(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(lis))
	for _, li := range lis {
		out = append(out, Image{Ref: li.RefName, Digest: li.Digest.String(), MediaType: li.MediaType, Size: li.Size, Written: li.Written.UTC()})
	}
	slices.SortStableFunc(out, func(a, b Image) int { return cmp.Compare(a.Ref, b.Ref) })
	return out, nil
}

// PruneOptions say what Prune removes. With neither limit set it removes
// nothing.
type PruneOptions struct {
	// OlderThan removes every store image written, and every cache entry
	// written, longer ago than this (0: no age limit).
	OlderThan time.Duration
	// MaxSize, when set, then removes the oldest images and cache entries
	// until the store and the cache together hold at most *MaxSize bytes
	// (0 removes everything).
	MaxSize *int64
	// Now is the time ages are measured from; zero means time.Now().
	Now time.Time
}

// PruneReport says what Prune removed and what is left.
type PruneReport struct {
	Images       []Image `json:"images"` // store images removed
	StoreBytes   int64   `json:"storeBytes"`
	CacheEntries int     `json:"cacheEntries"`
	CacheBytes   int64   `json:"cacheBytes"`
	// Left is the bytes the store and the cache hold afterwards.
	Left int64 `json:"left"`
}

// ErrInUse is matched (errors.Is) by Prune's error when another process
// uses the store or the cache (see Use).
var ErrInUse = errors.New("store: in use by another strata process")

// inUseError names the directory in use; it matches ErrInUse.
type inUseError struct{ dir string }

func (e inUseError) Error() string {
	return e.dir + " is in use by another strata process (a build, plan or push); nothing was removed, try again when it has finished"
}

func (e inUseError) Is(target error) bool { return target == ErrInUse }

// Prune removes from the store storeDir and the cache cacheDir what o
// says, oldest first. It first takes both directories' in-use locks
// exclusively; when another process holds one (a running build, plan or
// push), nothing is removed and the error matches ErrInUse. A store image
// leaves the store's index.json in one atomic rename, then the blobs no
// other image uses are removed; a cache entry is one file, removed with
// one unlink (a layer record whose blob is gone is ignored by the cache).
func Prune(storeDir, cacheDir string, o PruneOptions) (*PruneReport, error) {
	if o.OlderThan < 0 || (o.MaxSize != nil && *o.MaxSize < 0) {
		return nil, errors.New("store: OlderThan and MaxSize must not be negative")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	for _, d := range []string{storeDir, cacheDir} {
		release, err := lockExclusive(d)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	imgs, err := Images(storeDir)
	if err != nil {
		return nil, err
	}
	entries, err := cacheEntries(cacheDir)
	if err != nil {
		return nil, err
	}
	storeSize, err := dirSize(storeDir)
	if err != nil {
		return nil, err
	}
	rep := &PruneReport{}
	// Oldest first; images before cache entries of the same age, then by name.
	type candidate struct {
		when  time.Time
		image *Image
		entry *cacheEntry
	}
	var cands []candidate
	for i := range imgs {
		if imgs[i].Ref != "" {
			cands = append(cands, candidate{when: imgs[i].Written, image: &imgs[i]})
		}
	}
	for i := range entries {
		cands = append(cands, candidate{when: entries[i].written, entry: &entries[i]})
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if c := a.when.Compare(b.when); c != 0 {
			return c
		}
		return cmp.Compare(name(a.image, a.entry), name(b.image, b.entry))
	})
	total := storeSize
	for _, e := range entries {
		total += e.size
	}
	for _, c := range cands {
		old := o.OlderThan > 0 && o.Now.Sub(c.when) > o.OlderThan
		big := o.MaxSize != nil && total > *o.MaxSize
		if !old && !big {
			continue
		}
		if c.image != nil {
			freed, err := oci.RemoveRefs(storeDir, []string{c.image.Ref})
			if err != nil {
				return rep, fmt.Errorf("removing %s from %s: %w", c.image.Ref, storeDir, err)
			}
			rep.Images = append(rep.Images, *c.image)
			rep.StoreBytes += freed
			total -= freed
			continue
		}
		if err := os.Remove(c.entry.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("pruning the cache: %w", err)
		}
		rep.CacheEntries++
		rep.CacheBytes += c.entry.size
		total -= c.entry.size
	}
	rep.Left = total
	return rep, nil
}

func name(img *Image, e *cacheEntry) string {
	if img != nil {
		return img.Ref
	}
	return e.path
}

// cacheEntry is one file of the cache.
type cacheEntry struct {
	path    string
	size    int64
	written time.Time
}

// cacheEntries lists the cache's files, except temporary ones (tmp/, which
// writers clean up themselves).
func cacheEntries(dir string) ([]cacheEntry, error) {
	var out []cacheEntry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() && p == filepath.Join(dir, "tmp") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, cacheEntry{path: p, size: fi.Size(), written: fi.ModTime()})
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the cache %s: %w", dir, err)
	}
	return out, nil
}

// dirSize is the bytes of the regular files under dir (0 if it is absent).
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return n, nil
}
