package basetree

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestFlightReadsOnce: two specs needing one base layer at once read it
// once; after a failed read a waiter reads it itself.
func TestFlightReadsOnce(t *testing.T) {
	f := NewFlight()
	d := v1.Hash{Algorithm: "sha256", Hex: "00"}
	var reads atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	read := func() ([]treeRec, error) {
		if reads.Add(1) == 1 {
			close(started)
			<-release
		}
		return []treeRec{{}}, nil
	}
	var wg sync.WaitGroup
	results := make([][]treeRec, 3)
	wg.Add(1)
	go func() { defer wg.Done(); results[0], _ = f.do(context.Background(), d, read) }()
	<-started
	for i := 1; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], _ = f.do(context.Background(), d, read) }()
	}
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("the layer was read %d times, want once", n)
	}
	for i, r := range results {
		if len(r) != 1 {
			t.Errorf("call %d got %d records", i, len(r))
		}
	}

	e := v1.Hash{Algorithm: "sha256", Hex: "01"}
	if _, err := f.do(context.Background(), e, func() ([]treeRec, error) { return nil, errors.New("cut") }); err == nil {
		t.Fatal("a failed read returned no error")
	}
	if r, err := f.do(context.Background(), e, read); err != nil || len(r) != 1 {
		t.Errorf("after a failed read: %v, %d records; want a fresh read", err, len(r))
	}
}
