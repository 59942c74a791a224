// Package spec loads, validates and defaults strata image specs.
//
// A spec is a YAML (.yaml, .yml) or CUE (.cue, or a CUE package directory)
// document that names a base image, the layers to add on top of it, runtime
// configuration and tags. Both formats are validated by the one CUE schema
// embedded in package schema and decode into the same [Spec] value.
//
// # Loading
//
// [Load] reads a spec file, expands ${VAR} and ${VAR:-default} references,
// checks it against the schema and runs [Validate]. Every problem is reported
// at once as an [ErrorList] whose entries read
//
//	FILE:LINE:COL: field.path: what is wrong; what is valid
//
// A CUE spec is evaluated on its own (it may import packages of its CUE
// module, offline) and must be concrete; strata then unifies it with the
// schema's #Image. Users do not import the schema.
//
// # Model
//
// The model is plain data: omitted optional fields are zero values (nil slices
// and maps, empty strings). Where "set to empty" differs from "not set" (config
// entrypoint and cmd), a nil slice means not set and an empty non-nil slice
// means set to empty. Defaults are applied by [WithDefaults], never by Load or
// Validate.
package spec

// Spec is one image spec. Field names follow the spec file's keys.
type Spec struct {
	// Base is the base image: a registry reference (tag or digest), "scratch",
	// "oci:DIR[:tag|@digest]" or "docker-archive:FILE".
	Base string `json:"base"`
	// Platforms lists os/arch[/variant] values; empty means the base's platforms
	// (linux/amd64 for scratch).
	Platforms []string `json:"platforms,omitempty"`
	// Context is the directory source globs are rooted at. Load leaves it as
	// written; WithDefaults resolves it against the spec file's directory.
	// In a spec file it must be relative (Validate refuses an absolute one).
	Context string `json:"context,omitempty"`
	// Layers become one image layer each (several for split: auto), in
	// order; empty layers are skipped.
	Layers []Layer `json:"layers,omitempty"`
	// Config is merged over the base image's config.
	Config Config `json:"config,omitempty"`
	// Annotations are added to the image manifest.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Image is the repository that bare tags belong to.
	Image string `json:"image,omitempty"`
	// Tags are bare tags (belonging to Image) or full references.
	Tags []string `json:"tags,omitempty"`
	// Semver, when set, also tags MAJOR.MINOR.PATCH, MAJOR.MINOR and MAJOR.
	Semver string `json:"semver,omitempty"`

	// source records where the spec came from, for positions in messages.
	source *Source
}

// Layer is one entry of layers: deletions, then additions, as one image layer.
type Layer struct {
	// Name shows in history and plan; defaults to the layer's index.
	Name string `json:"name,omitempty"`
	// Delete lists absolute paths to remove from lower layers (whiteouts).
	Delete []string `json:"delete,omitempty"`
	// Clear lists absolute directories whose lower contents are hidden while
	// the directory itself is kept (opaque whiteouts).
	Clear []string `json:"clear,omitempty"`
	// Files adds files matched by globs in the context directory.
	Files []File `json:"files,omitempty"`
	// Dirs declares directories with explicit metadata.
	Dirs []Dir `json:"dirs,omitempty"`
	// Symlinks declares symbolic links.
	Symlinks []Symlink `json:"symlinks,omitempty"`
	// Split is "auto" to emit the layer as several image layers cut where
	// the files are, so a change to one file changes one small layer (see
	// package compose/layer, "Split layers"); "" emits one layer.
	Split string `json:"split,omitempty"`
}

// File adds the context files matched by Src under Dest.
type File struct {
	// Src is a doublestar glob (or a plain file or directory path) relative to
	// the context. It may contain ${TARGETOS}, ${TARGETARCH} and
	// ${TARGETVARIANT}, filled in per platform by ExpandPlatform.
	Src string `json:"src"`
	// Dest is an absolute target path. With a trailing "/", each match keeps
	// its path relative to the glob's static prefix; without it, Src must match
	// exactly one file, which is stored at Dest.
	Dest string `json:"dest"`
	// Exclude lists globs (relative to the context) whose matches are dropped.
	Exclude []string `json:"exclude,omitempty"`
	// Mode is a quoted octal permission string such as "0644"; empty means
	// 0755 if any exec bit is set in the source, else 0644.
	Mode string `json:"mode,omitempty"`
	// Owner is a numeric "uid:gid"; empty means 0:0.
	Owner string `json:"owner,omitempty"`
	// Extract unpacks a local .tar or .tar.gz archive under Dest.
	Extract bool `json:"extract,omitempty"`
	// Sha256 pins the source's content (hex), checked before use.
	Sha256 string `json:"sha256,omitempty"`
	// Optional allows Src to match nothing.
	Optional bool `json:"optional,omitempty"`
}

// Dir declares one directory entry.
type Dir struct {
	Path  string `json:"path"`
	Mode  string `json:"mode,omitempty"`
	Owner string `json:"owner,omitempty"`
}

// Symlink declares one symbolic link; Target is stored verbatim.
type Symlink struct {
	Path   string `json:"path"`
	Target string `json:"target"`
	Owner  string `json:"owner,omitempty"`
}

// Config is the runtime configuration merged over the base's. Zero values mean
// "keep the base's value"; see the package comment for Entrypoint and Cmd.
type Config struct {
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Workdir    string            `json:"workdir,omitempty"`
	User       string            `json:"user,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Ports      []string          `json:"ports,omitempty"`
	Volumes    []string          `json:"volumes,omitempty"`
	StopSignal string            `json:"stopSignal,omitempty"`
}

// Source tells where a spec was read from and where each field stands in it.
type Source struct {
	// File is the spec's path as given to Load.
	File string
	// Dir is the absolute directory of the spec file (of the package, for CUE
	// package directories).
	Dir string
	// Positions maps field paths ("layers[0].files[1].dest") to positions.
	Positions map[string]Position
}

// Position is a place in a spec file; Line and Col start at 1.
type Position struct {
	File      string
	Line, Col int
}

// Source returns where s was loaded from, or nil for a Spec built in code.
func (s *Spec) Source() *Source { return s.source }
