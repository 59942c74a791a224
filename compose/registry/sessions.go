package registry

import (
	"context"
	"net/url"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Reserve opens n upload sessions in the repository in the background,
// ahead of the small blobs a push will upload there (an image's config and
// its documents): a push given the Streamer (PushOptions.Streams) sends
// each of them with one request, its bytes, instead of first asking for a
// session. Sessions are opened while the image builds, so the push that
// follows waits for one round trip fewer. A session that cannot be opened
// is simply not there; those the push does not take are deleted when it
// ends, beside its tags (or left to the registry's clean-up if it fails
// before).
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

// dropSessions deletes the sessions no push took, once those being opened
// are.
func (s *Streamer) dropSessions(ctx context.Context) {
	s.reserving.Wait()
	s.mu.Lock()
	spare := s.spare
	s.spare = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, loc := range spare {
		wg.Go(func() { s.client.cancelUpload(ctx, loc) })
	}
	wg.Wait()
}
