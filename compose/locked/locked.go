// Package locked makes a spec's lock file from a build (New) and holds
// later builds to it: CheckInputs says when a lock no longer describes the
// spec's inputs (stale), BasePins gives the locked base digests Build takes
// instead of resolving tags (compose.WithBasePins), and Check compares a
// result with the lock, naming the platform, the first differing layer and
// its paths. The lock file's format is package spec/lock.
//
// It imports compose (the Result it records and checks), compose/diff and
// spec/lock.
package locked

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/diff"
	"github.com/strata-build/strata/internal/blobstore"
	"github.com/strata-build/strata/spec"
	"github.com/strata-build/strata/spec/lock"
)

// New returns the lock file of res: the base as written and resolved,
// the sha256 of every archive source, sourceDateEpoch (the time res was
// built with, in seconds) and the digests res built to. res may come from
// Plan.
func New(res *compose.Result, sourceDateEpoch int64) (*lock.Lock, error) {
	l := &lock.Lock{
		Version:         lock.Version,
		Base:            lock.Base{Ref: res.Spec.Base},
		SourceDateEpoch: sourceDateEpoch,
		Result:          lock.Result{Digest: res.Digest.String(), Platforms: map[string]lock.Platform{}},
	}
	if res.BaseDigest != (v1.Hash{}) {
		l.Base.Digest = res.BaseDigest.String()
	}
	plats := make([]spec.Platform, len(res.Platforms))
	for i, p := range res.Platforms {
		plats[i] = p.Platform
		if p.BaseDigest != (v1.Hash{}) {
			if l.Base.Platforms == nil {
				l.Base.Platforms = map[string]string{}
			}
			l.Base.Platforms[p.Platform.String()] = p.BaseDigest.String()
		}
		lp := lock.Platform{Digest: p.Digest.String()}
		for _, ly := range p.Layers {
			lp.Layers = append(lp.Layers, lock.Layer{Name: ly.Name, Digest: ly.Digest.String()})
		}
		l.Result.Platforms[p.Platform.String()] = lp
	}
	var err error
	if l.Sources, err = archiveSources(res.Spec, plats); err != nil {
		return nil, err
	}
	return l, nil
}

// archiveSources hashes every archive source (files with extract: true) of
// s, for each platform, by context-relative path. s has its defaults
// applied (an absolute context).
func archiveSources(s *spec.Spec, plats []spec.Platform) (map[string]string, error) {
	var pats []string
	for _, ly := range s.Layers {
		for _, f := range ly.Files {
			if !f.Extract {
				continue
			}
			for _, p := range plats {
				if src := spec.ExpandPlatform(f.Src, p); !slices.Contains(pats, src) {
					pats = append(pats, src)
				}
			}
		}
	}
	if len(pats) == 0 {
		return nil, nil
	}
	root, err := os.OpenRoot(s.Context)
	if err != nil {
		return nil, fmt.Errorf("opening context directory: %w", err)
	}
	defer root.Close()
	out := map[string]string{}
	for _, pat := range pats {
		matches, err := doublestar.Glob(root.FS(), filepath.ToSlash(pat))
		if err != nil {
			return nil, fmt.Errorf("archive source %s: %w", pat, err)
		}
		for _, m := range matches {
			sum, err := hashFile(root, m)
			if err != nil {
				return nil, fmt.Errorf("archive source %s: %w", m, err)
			}
			out[m] = sum
		}
	}
	return out, nil
}

// hashFile returns "sha256:…" of a context file, streaming.
func hashFile(root *os.Root, name string) (string, error) {
	f, err := root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// StaleError says a lock file no longer describes its spec's inputs.
type StaleError struct {
	Reason string
}

func (e *StaleError) Error() string { return "the lock is stale: " + e.Reason }

// CheckInputs reports, as a *StaleError, when l no longer describes
// s's inputs: another base reference, other platforms, an archive source
// added, removed or changed, or another SOURCE_DATE_EPOCH. Plain files are
// not recorded: a changed file shows as a different result (Check).
func CheckInputs(s *spec.Spec, l *lock.Lock, sourceDateEpoch int64) error {
	s = spec.WithDefaults(s, "")
	if s.Base != l.Base.Ref {
		return &StaleError{fmt.Sprintf("the spec's base is %q, the lock's %q", s.Base, l.Base.Ref)}
	}
	if sourceDateEpoch != l.SourceDateEpoch {
		return &StaleError{fmt.Sprintf("SOURCE_DATE_EPOCH is %d, the lock was made with %d", sourceDateEpoch, l.SourceDateEpoch)}
	}
	var locked []string
	for p := range l.Result.Platforms {
		locked = append(locked, p)
	}
	slices.Sort(locked)
	if len(s.Platforms) > 0 {
		want := slices.Sorted(slices.Values(s.Platforms))
		if !slices.Equal(want, locked) {
			return &StaleError{fmt.Sprintf("the spec builds %s, the lock has %s", strings.Join(want, ", "), strings.Join(locked, ", "))}
		}
	}
	plats := make([]spec.Platform, 0, len(locked))
	for _, p := range locked {
		pp, err := spec.ParsePlatform(p)
		if err != nil {
			return &StaleError{fmt.Sprintf("platform %q: %v", p, err)}
		}
		plats = append(plats, pp)
	}
	srcs, err := archiveSources(s, plats)
	if err != nil {
		return err
	}
	for _, p := range sortedKeys(srcs, l.Sources) {
		if got, want := srcs[p], l.Sources[p]; got != want {
			switch {
			case want == "":
				return &StaleError{fmt.Sprintf("archive source %s is not in the lock", p)}
			case got == "":
				return &StaleError{fmt.Sprintf("archive source %s is in the lock but not used by the spec", p)}
			}
			return &StaleError{fmt.Sprintf("archive source %s has sha256 %s, the lock %s", p, got, want)}
		}
	}
	return nil
}

func sortedKeys(a, b map[string]string) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// BasePins returns the base pins (see WithBasePins) of a set of locks:
// each registry base reference mapped to the digest its lock resolved.
// Two locks that pin one reference to different digests are an error.
func BasePins(locks []*lock.Lock) (map[string]v1.Hash, error) {
	pins := map[string]v1.Hash{}
	for _, l := range locks {
		if l.Base.Digest == "" {
			continue
		}
		loc, err := spec.ParseLocation(l.Base.Ref)
		if err != nil || loc.Kind != spec.LocationRegistry {
			continue // local bases are files: nothing to resolve
		}
		h, err := v1.NewHash(l.Base.Digest)
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", l.Base.Ref, err)
		}
		if old, ok := pins[l.Base.Ref]; ok && old != h {
			return nil, fmt.Errorf("base %s is locked to %s and to %s; run strata lock --update on the specs that use it", l.Base.Ref, old, h)
		}
		pins[l.Base.Ref] = h
	}
	return pins, nil
}

// MismatchError says a build did not give the digests its lock
// records.
type MismatchError struct {
	Platform string // "" when only the index digest differs
	Built    v1.Hash
	Locked   string
	Detail   string // which layer differs and how, or what else
}

func (e *MismatchError) Error() string {
	what := "the index"
	if e.Platform != "" {
		what = "platform " + e.Platform
	}
	return fmt.Sprintf("%s built %s, the lock says %s: %s", what, e.Built, e.Locked, e.Detail)
}

// Check compares the digests res built to with those l records and
// returns a *MismatchError for the first platform that differs, naming
// the first differing layer. When the locked layer's blob is still in the
// cache under cacheDir, the entries that differ are named too.
func Check(ctx context.Context, res *compose.Result, l *lock.Lock, cacheDir string) error {
	for _, p := range res.Platforms {
		name := p.Platform.String()
		lp, ok := l.Result.Platforms[name]
		if !ok {
			return &MismatchError{Platform: name, Built: p.Digest, Locked: "nothing", Detail: "the lock has no such platform"}
		}
		if lp.Digest == p.Digest.String() {
			continue
		}
		return &MismatchError{Platform: name, Built: p.Digest, Locked: lp.Digest, Detail: layerMismatch(ctx, p, lp, cacheDir)}
	}
	if l.Result.Digest != res.Digest.String() {
		return &MismatchError{Built: res.Digest, Locked: l.Result.Digest, Detail: "every platform's image is as locked"}
	}
	return nil
}

// layerMismatch says which layer of a platform first differs from the
// lock, and how.
func layerMismatch(ctx context.Context, p compose.PlatformResult, lp lock.Platform, cacheDir string) string {
	for i := 0; i < max(len(p.Layers), len(lp.Layers)); i++ {
		switch {
		case i >= len(p.Layers):
			return fmt.Sprintf("the lock has a layer %q that the build does not", lp.Layers[i].Name)
		case i >= len(lp.Layers):
			return fmt.Sprintf("layer %q is not in the lock", p.Layers[i].Name)
		}
		got, want := p.Layers[i], lp.Layers[i]
		if got.Digest.String() == want.Digest {
			continue
		}
		msg := fmt.Sprintf("layer %q differs (locked %s, built %s)", got.Name, want.Digest, got.Digest)
		if paths := layerPaths(ctx, want.Digest, got, cacheDir); paths != "" {
			msg += ": " + paths
		}
		return msg
	}
	return "the layers are as locked; the config or the base differs"
}

// layerPaths names the entries that differ between the locked layer, when
// its blob is cached, and the built one; "" when it cannot tell.
func layerPaths(ctx context.Context, locked string, built compose.LayerResult, cacheDir string) string {
	h, err := v1.NewHash(locked)
	if err != nil {
		return ""
	}
	store := blobstore.At(cacheDir)
	if !store.Has(h) || !store.Has(built.Digest) {
		return "" // a plan stores no layer; an old layer may be gone
	}
	old, err := tarball.LayerFromFile(store.Path(h))
	if err != nil {
		return ""
	}
	cur, err := tarball.LayerFromFile(store.Path(built.Digest))
	if err != nil {
		return ""
	}
	l, err := diff.Layers(ctx, old, cur)
	if err != nil || len(l.Changes) == 0 {
		return ""
	}
	var parts []string
	for i, c := range l.Changes {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(l.Changes)-5))
			break
		}
		parts = append(parts, c.Kind+" "+c.Path)
	}
	return strings.Join(parts, ", ")
}
