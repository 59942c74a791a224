// Command server is the example binary packaged by examples/go-binary.
//
// It imports golang.org/x/mod/semver so that the binary has a module
// dependency: strata's SBOM of this example lists it, with its version and
// go.sum hash, exactly as `go version -m` prints it.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"golang.org/x/mod/semver"
)

func main() {
	version := os.Getenv("VERSION")
	if !semver.IsValid(version) {
		version = "v0.0.0-dev"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hello from strata", version)
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
