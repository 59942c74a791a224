// Package compose turns a validated spec into deterministic OCI layers and
// images, and writes them to an OCI layout, a docker tarball or a registry.
//
// Nothing is executed: every byte of a layer comes from a file in the context
// directory, an entry declared in the spec or the base image.
package compose
