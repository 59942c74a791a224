package registry

import (
	"context"
	"net/url"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Reserve opens n upload sessions in the repository in the background,
// ahead of the small blobs a push will upload there (an image's config and
// its documents): a push given the Streamer (PushOptions.Streams) sends
// each of them with one request, its bytes, instead of first asking for a
// session. Sessions are opened while the image builds, so the push that
// follows waits for one round trip fewer. A session that cannot be opened
// is simply not there; those the push does not take are deleted beside
// its tags (Release deletes them after a push that failed before, or
// none).
//
// A session is opened with the Streamer's credentials and used with the
// push's: where a registry ties an upload to the token that started it,
// the blob costs one more request (a session of its own). Call Reserve
// before the Push given the Streamer starts, never during it.
func (s *Streamer) Reserve(ctx context.Context, n int) {
	if n < 1 {
		return
	}
	s.later.Add(1)
	s.reserving.Add(1)
	go func() {
		defer s.later.Done()
		defer s.reserving.Done()
		if s.connect(ctx) != nil {
			return
		}
		// Two at a time: a handful of requests, each a connection to
		// the registry while in flight.
		var g errgroup.Group
		g.SetLimit(reserveAtOnce)
		for range n {
			g.Go(func() error {
				if _, loc, err := s.client.startUpload(ctx, v1.Hash{}, ""); err == nil && loc != nil {
					s.mu.Lock()
					s.spare = append(s.spare, loc)
					s.mu.Unlock()
				}
				return nil
			})
		}
		_ = g.Wait() // a session that cannot be opened is not there
	}()
}

// reserveAtOnce bounds the sessions one Reserve opens at once.
const reserveAtOnce = 2

// takeSession returns an open upload session, or nil when none is ready.
func (s *Streamer) takeSession() *url.URL {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.spare) == 0 {
		return nil
	}
	loc := s.spare[len(s.spare)-1]
	s.spare = s.spare[:len(s.spare)-1]
	return loc
}

// takeSpares returns, and forgets, the sessions no push took, once the
// Reserve calls still opening theirs are done.
func (s *Streamer) takeSpares() []*url.URL {
	s.reserving.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	spare := s.spare
	s.spare = nil
	return spare
}

// Release deletes the sessions Reserve opened that no push took (a push
// that failed before its tags, or none at all), two at a time. Call it
// once no Push given the Streamer runs.
func (s *Streamer) Release(ctx context.Context) {
	var g errgroup.Group
	g.SetLimit(reserveAtOnce)
	for _, loc := range s.takeSpares() {
		g.Go(func() error { s.client.cancelUpload(ctx, loc); return nil })
	}
	_ = g.Wait() // a session not deleted is left to the registry's clean-up
}
