// Command server is the example binary packaged by examples/go-binary.
package main

import (
	"fmt"
	"log"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "hello from strata")
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
