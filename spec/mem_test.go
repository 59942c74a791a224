package spec

import (
	"runtime"
	"testing"
)

// TestLoadMemoryBounded loads CUE specs many times: the heap must not grow
// with the number of loads (a single long-lived cue.Context grew by about
// 50 KiB per load, 50 MiB over this test).
func TestLoadMemoryBounded(t *testing.T) {
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var before uint64
	for i := 0; i < 500; i++ {
		if i == 100 {
			before = heap()
		}
		if _, err := Load("../examples/monorepo/services/api", LoadOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := Load("../examples/static-site/image.cue", LoadOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	after := heap()
	if after > before+10<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB over 800 loads", before>>10, after>>10)
	}
}
