// Package compose turns a validated spec into a deterministic OCI image or
// index. It is composing only: it resolves the base, builds the layers,
// checks them against the base, assembles config, history and annotations,
// and hands back a [Result]. Nothing is executed: every byte of a layer comes
// from a file in the context directory, an entry declared in the spec or the
// base image.
//
// # Entry points
//
//   - [Build] composes one spec; [BuildAll] composes several with one
//     concurrency budget ([WithJobs]) shared by all of them.
//   - [Plan] computes the same digests and entries without storing anything.
//   - [WriteOutputs] writes a Result to an OCI layout and/or a docker
//     tarball (through package compose/oci), atomically.
//   - [Result.PushTags] and [Result.MountFrom] say where and how a Result is
//     pushed; package compose/registry does the pushing.
//   - [Attachments] makes a Result's SBOMs and provenance as OCI 1.1
//     referrers (the image digest does not change); [Signatures] signs the
//     Result and those documents in cosign's format.
//
// # The house
//
// compose is the root of the composing side. Its rooms, each a package:
//
//   - compose/layer: one spec layer to one deterministic layer blob (files,
//     archives, whiteouts, tar, hashing, the layer cache);
//   - compose/base: resolving and caching the base image;
//   - compose/basetree: checking the spec's paths against the base's files;
//   - compose/oci: reading and writing images on disk (OCI layouts, docker
//     tarballs and archives);
//   - compose/registry: pushing, copying and registry chores, with the one
//     transport policy; it never imports compose;
//   - compose/registry/local: the development registry server;
//   - compose/store: the local disk's upkeep (listing the local store,
//     pruning it and the cache, the in-use locks);
//   - compose/locked: lock files made from results and builds held to them;
//   - compose/attach: the supply-chain documents of a built image (SBOMs,
//     provenance, signatures), attached as referrers;
//   - compose/sbom: SPDX and CycloneDX SBOMs read from an image's layers;
//   - compose/provenance: the in-toto SLSA v1 provenance statement;
//   - compose/sign: cosign-compatible signatures with a cosign key.
//
// Grammars (base locations, tags, semver) live in package spec only.
package compose
