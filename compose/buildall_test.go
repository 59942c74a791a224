package compose

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/strata-build/strata/spec"
)

// TestBuildAllReportsEveryFailure: every failing spec is reported, ordered
// by name whatever the order given, each as a *SpecError (issue 8 point 9).
func TestBuildAllReportsEveryFailure(t *testing.T) {
	bad := func() *spec.Spec {
		return &spec.Spec{Base: "scratch", Context: t.TempDir(), Layers: []spec.Layer{{Files: []spec.File{{Src: "missing", Dest: "/x"}}}}}
	}
	good := &spec.Spec{Base: "scratch", Context: t.TempDir()}
	specs := []*spec.Spec{bad(), good, bad(), bad()}
	names := []string{"z.yaml", "ok.yaml", "a.yaml", "m.yaml"}
	for range 3 {
		_, err := BuildAll(context.Background(), specs, names, t.TempDir(), WithJobs(4))
		j, ok := err.(interface{ Unwrap() []error })
		if !ok {
			t.Fatalf("err = %v, want several errors joined", err)
		}
		var got []string
		for _, e := range j.Unwrap() {
			var se *SpecError
			if !errors.As(e, &se) {
				t.Fatalf("%v is not a *SpecError", e)
			}
			got = append(got, se.Name)
		}
		if strings.Join(got, " ") != "a.yaml m.yaml z.yaml" {
			t.Errorf("failures reported for %v, want a.yaml m.yaml z.yaml", got)
		}
	}
	// Without names: "spec i", in index order.
	_, err := BuildAll(context.Background(), specs[:3], nil, t.TempDir())
	if msg := err.Error(); !strings.HasPrefix(msg, "spec 0: ") || !strings.Contains(msg, "\nspec 2: ") {
		t.Errorf("err = %q", msg)
	}
}
