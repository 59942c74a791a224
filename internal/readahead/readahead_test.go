package readahead

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// TestReader: every byte comes through in order, whatever the chunk size,
// depth and the pace of the source, and the source's end or error comes
// after its last bytes.
func TestReader(t *testing.T) {
	data := make([]byte, 1<<20+17)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name        string
		src         func() io.Reader
		size, depth int
		want        []byte
		err         error
	}{
		{"one chunk", func() io.Reader { return bytes.NewReader(data) }, len(data) + 1, 1, data, nil},
		{"many chunks", func() io.Reader { return bytes.NewReader(data) }, 4096, 4, data, nil},
		{"odd sizes", func() io.Reader { return bytes.NewReader(data) }, 1000, 3, data, nil},
		{"byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data[:5000])) }, 64, 2, data[:5000], nil},
		{"zero size", func() io.Reader { return bytes.NewReader(data[:300]) }, 0, 0, data[:300], nil},
		{"empty", func() io.Reader { return bytes.NewReader(nil) }, 16, 2, nil, nil},
		{"error after data", func() io.Reader {
			return io.MultiReader(bytes.NewReader(data[:10000]), iotest.ErrReader(boom))
		}, 4096, 2, data[:10000], boom},
		{"truncated source", func() io.Reader {
			return io.MultiReader(bytes.NewReader(data[:10000]), iotest.ErrReader(io.ErrUnexpectedEOF))
		}, 4096, 2, data[:10000], io.ErrUnexpectedEOF},
		{"error with the bytes that fill a chunk", func() io.Reader { return &lastErr{b: data[:8192], err: boom} }, 4096, 2, data[:8192], boom},
		{"data with error", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data[:7000])) }, 512, 2, data[:7000], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.src(), tc.size, tc.depth)
			defer r.Close()
			got, err := io.ReadAll(r)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("read %d bytes, want %d (or other bytes)", len(got), len(tc.want))
			}
			// The end (or error) stays.
			if n, err2 := r.Read(make([]byte, 8)); n != 0 || err2 == nil {
				t.Errorf("read after the end: %d, %v", n, err2)
			}
		})
	}
	// testing/iotest's own checks of a reader (small reads, reads at the
	// end, ReadAll).
	if err := iotest.TestReader(New(bytes.NewReader(data[:100000]), 3000, 3), data[:100000]); err != nil {
		t.Error(err)
	}
}

// TestReaderReadsAhead: the source is read while the consumer is not
// reading, up to depth+1 chunks (depth waiting and one being filled), no
// further.
func TestReaderReadsAhead(t *testing.T) {
	src := &countingReader{r: bytes.NewReader(make([]byte, 1<<20))}
	r := New(src, 1000, 3)
	defer r.Close()
	var got int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if got = src.n.Load(); got >= 3000 {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	if got = src.n.Load(); got < 3000 || got > 4000 {
		t.Fatalf("the source was read %d bytes ahead; want between 3,000 and 4,000", got)
	}
}

// TestReaderClose: Close stops the goroutine, also while it waits for the
// consumer; a Read after Close fails.
func TestReaderClose(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		r := New(bytes.NewReader(make([]byte, 1<<20)), 1000, 2)
		if _, err := r.Read(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(make([]byte, 10)); err == nil {
			t.Fatal("read after close succeeded")
		}
		r.Close() // twice is fine
	}
	// Close waited for each goroutine: none is left (allow the test
	// runtime's own to come and go).
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("%d goroutines before, %d after closing 50 readers", before, after)
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// lastErr returns its bytes in reads of at most 1,000, err with the last
// of them (as a digest check at a stream's end does), then io.EOF.
type lastErr struct {
	b    []byte
	err  error
	done bool
}

func (l *lastErr) Read(p []byte) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	n := copy(p, l.b[:min(len(l.b), 1000)])
	l.b = l.b[n:]
	if len(l.b) == 0 {
		l.done = true
		return n, l.err
	}
	return n, nil
}

// TestReaderSlowSource: bytes are passed on once a chunk holds minFill of
// them, not held back until the whole chunk has come.
func TestReaderSlowSource(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, minFill+100)) // and then nothing more for now
	r := New(pr, 1<<20, 2)
	defer func() { pw.Close(); r.Close() }()
	got := make(chan int, 1)
	go func() {
		n, _ := io.ReadAtLeast(r, make([]byte, minFill), minFill)
		got <- n
	}()
	select {
	case n := <-got:
		if n < minFill {
			t.Errorf("read %d bytes", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the bytes of a slow source were held back waiting for a whole chunk")
	}
}
