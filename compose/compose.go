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
//     pruning it and the cache, the in-use locks).
//
// Grammars (base locations, tags, semver) live in package spec only.
package compose
