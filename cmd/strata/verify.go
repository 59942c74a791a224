package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/compose/diff"
	"github.com/strata-build/strata/compose/registry"
	"github.com/strata-build/strata/compose/sign"
	"github.com/strata-build/strata/spec"
)

func (a *app) verifyCmd() *cobra.Command {
	var f buildFlags
	var keyFile string
	c := &cobra.Command{
		Use:   "verify REF [SPEC]",
		Short: "Rebuild a spec and check that REF is exactly that image, and signed",
		Long: `Verify composes SPEC (default: image.yaml, image.yml, image.cue or the CUE
package in the current directory) as build would, writing nothing, and
compares the result with the image REF names: a registry reference,
oci:DIR[:tag|@digest] or docker-archive:FILE. This is what CI runs to prove a
release came from a commit.

When the digests are equal it prints "verified REF DIGEST" and exits 0.
Otherwise it prints how they differ, as strata diff REF SPEC would (which
platform, the first differing layer, each path with its old and new sha256),
and exits 1.

With --key FILE (a cosign public key, as cosign generate-key-pair writes
cosign.pub) verify also checks REF's cosign signature, as
cosign verify --key FILE --insecure-ignore-tlog would: the signature image
sha256-HEX.sig in REF's repository must hold a payload naming the digest REF
points at (the index's, for a multi-platform image) whose signature verifies
with the key; push --sign-key writes it. When there is no such signature, or
it does not verify with the key, verify says so and exits 1. A file that is
not a public key is exit 2, and so is --key with a REF that is not a
registry reference (oci:, docker-archive:, a spec): only images in a
registry carry signatures.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				return a.runVerify(cmd.Context(), args[0], args[1], keyFile, &f)
			}
			specPath, err := defaultSpec()
			if err != nil {
				return err
			}
			return a.runVerify(cmd.Context(), args[0], specPath, keyFile, &f)
		},
	}
	f.register(c)
	c.Flags().StringVar(&keyFile, "key", "", "also check REF's cosign signature with this public key `FILE` (cosign.pub)")
	return c
}

func (a *app) runVerify(ctx context.Context, ref, specPath, keyFile string, f *buildFlags) error {
	ctx, cancel := f.reg.withTimeout(ctx)
	defer cancel()
	if !isSpecPath(specPath) {
		return usagef("%s is not a spec file (.yaml, .yml, .cue or a CUE package directory)", specPath)
	}
	key, err := loadPublicKey(ref, keyFile)
	if err != nil {
		return err
	}
	built, err := a.openImage(ctx, specPath, f)
	if err != nil {
		return err
	}
	published, err := a.openImage(ctx, ref, f)
	if err != nil {
		return err
	}
	rep, err := diff.Images(ctx, published, built)
	if err != nil {
		return redacted(fmt.Errorf("comparing %s with %s: %w", ref, specPath, err), &f.reg)
	}
	if rep.Same {
		if key == nil {
			fmt.Fprintf(a.stdout, "verified %s %s\n", ref, rep.A)
			return nil
		}
		if err := verifySignature(ctx, ref, rep.A, keyFile, key, &f.reg); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "verified %s %s, signature verified with %s\n", ref, rep.A, keyFile)
		return nil
	}
	if f.json {
		if err := writeJSON(a, rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(a.stdout); err != nil {
		return err
	}
	return redacted(fmt.Errorf("%s (%s) is not what %s builds (%s): %s", ref, rep.A, specPath, rep.B, rep.Summary()), &f.reg)
}

// loadPublicKey loads the --key public key, before anything is built; nil
// without the flag. An unreadable file, one that is not a public key, and
// a REF that is not in a registry are usage errors (exit 2).
func loadPublicKey(ref, keyFile string) (*sign.Verifier, error) {
	if keyFile == "" {
		return nil, nil
	}
	if l, err := spec.ParseLocation(ref); isSpecPath(ref) || err == nil && l.Kind != spec.LocationRegistry {
		return nil, usagef("--key: %s is not in a registry; only registry references carry cosign signatures", ref)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, usagef("--key: cannot read %s: %v", keyFile, errors.Unwrap(err))
	}
	v, err := sign.LoadPublicKey(b)
	if err != nil {
		return nil, usagef("--key %s: %v", keyFile, err)
	}
	return v, nil
}

// verifySignature checks the cosign signature of the manifest digest (the
// one just compared) in ref's repository with key; its errors are exit 1.
func verifySignature(ctx context.Context, ref, digest, keyFile string, key *sign.Verifier, f *registryFlags) error {
	l, err := registry.ParseLocation(ref, f.cfg)
	if err != nil {
		return usagef("%s: %v", ref, err)
	}
	repo := l.Ref.Context()
	found, err := registry.ReadSignatureImage(ctx, repo.Digest(digest), f.cfg, sign.SignatureTag)
	if err != nil {
		return redacted(fmt.Errorf("reading the signature of %s: %w", ref, err), f)
	}
	if found.Image == nil {
		return fmt.Errorf("no signature for %s in %s (no tag %s)", ref, repo.Name(), found.Tag.TagStr())
	}
	err = key.VerifyImage(found.Image, found.Digest)
	switch {
	case errors.Is(err, sign.ErrNoSignature):
		return fmt.Errorf("no signature for %s in %s (%s signs no payload naming %s)", ref, repo.Name(), found.Tag.TagStr(), digest)
	case errors.Is(err, sign.ErrBadSignature):
		return fmt.Errorf("%s: signature does not verify with %s (%s, for %s)", ref, keyFile, found.Tag.Name(), digest)
	case err != nil:
		return redacted(fmt.Errorf("reading the signature of %s: %w", ref, err), f)
	}
	return nil
}
