// Package readahead reads a stream on a goroutine of its own, a few
// chunks ahead of its consumer, so that the work of producing the bytes
// (a network read and its digest, a decompression) and the work of
// consuming them run on two cores instead of one.
//
// It imports nothing of strata's.
package readahead

import (
	"errors"
	"io"
	"sync"
)

// Reader reads r ahead in chunks of up to size bytes, at most depth of
// them waiting. A chunk is passed on once it holds minFill bytes (or size,
// if smaller), or r has ended: a slow source is not held back until a
// whole chunk has come. Close stops the read ahead (it does not close r) and waits for
// its goroutine, which may be in one Read of r: close r's source first to
// cut that short.
type Reader struct {
	full chan chunk
	free chan []byte
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	cur, buf []byte
	err      error
}

type chunk struct {
	b   []byte
	err error
}

// minFill is what a chunk must hold before it is passed on (see Reader).
const minFill = 32 << 10

// errClosed is what a Read after Close returns.
var errClosed = errors.New("readahead: read after close")

// New starts reading r ahead. size and depth below 1 count as 1.
func New(r io.Reader, size, depth int) *Reader {
	size, depth = max(size, 1), max(depth, 1)
	a := &Reader{full: make(chan chunk, depth), free: make(chan []byte, depth+1), stop: make(chan struct{})}
	for range depth + 1 {
		a.free <- make([]byte, size)
	}
	a.wg.Add(1)
	go a.fill(r)
	return a
}

// fill reads r into free chunks until r ends, fails or Close is called.
func (a *Reader) fill(r io.Reader) {
	defer a.wg.Done()
	for {
		var b []byte
		select {
		case b = <-a.free:
		case <-a.stop:
			return
		}
		n, err := fillChunk(r, b, min(len(b), minFill))
		if n > 0 {
			select {
			case a.full <- chunk{b: b[:n]}:
			case <-a.stop:
				return
			}
		}
		if err != nil {
			select {
			case a.full <- chunk{err: err}:
			case <-a.stop:
			}
			return
		}
	}
}

// fillChunk reads r into b until it holds least bytes or r returns an
// error, which it returns with the bytes read. (io.ReadAtLeast would drop
// an error that comes with the bytes that reach least, as a digest check
// at a stream's end does.)
func fillChunk(r io.Reader, b []byte, least int) (int, error) {
	n := 0
	for n < least {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Read returns the bytes read ahead, in order, then r's end or error.
func (a *Reader) Read(p []byte) (int, error) {
	select {
	case <-a.stop:
		return 0, errClosed
	default:
	}
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		if a.err != nil {
			return 0, a.err
		}
		select {
		case c := <-a.full:
			if c.err != nil {
				a.err = c.err
				continue
			}
			a.cur, a.buf = c.b, c.b
		case <-a.stop:
			a.err = errClosed
		}
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the read ahead and waits for its goroutine.
func (a *Reader) Close() error {
	a.once.Do(func() { close(a.stop) })
	a.wg.Wait()
	return nil
}
