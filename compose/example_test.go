package compose_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/spec"
)

// ExampleBuild composes a one-file image on scratch. The digest is the same
// on every machine, for any checkout path, umask or file time: it is pinned
// in the Output line below.
func ExampleBuild() {
	dir, err := os.MkdirTemp("", "strata-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, world\n"), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	s := &spec.Spec{
		Base:    "scratch",
		Context: dir,
		Layers: []spec.Layer{{
			Name:  "hello",
			Files: []spec.File{{Src: "hello.txt", Dest: "/srv/hello.txt"}},
		}},
		Config: spec.Config{Workdir: "/srv", Env: map[string]string{"GREETING": "hello"}},
	}
	res, err := compose.Build(context.Background(), s, filepath.Join(dir, ".cache"),
		compose.WithCreated(time.Unix(1700000000, 0)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Digest)
	// Output: sha256:33acacf2f765b4a44e0b0a85484f6fb266f2be3d8d40f63b9b5abecfe80fd3c7
}
