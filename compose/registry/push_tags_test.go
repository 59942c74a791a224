package registry

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/internal/faultproxy"
	"github.com/strata-build/strata/internal/fixture"
)

// tagRig is a registry behind a fault proxy, with a second, direct way in
// for "another writer", and two images to push.
type tagRig struct {
	p                *faultproxy.Proxy
	host, directHost string
	a, b             v1.Image
	aDigest, bDigest v1.Hash
}

func newTagRig(t *testing.T) *tagRig {
	t.Helper()
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	p := faultproxy.New(inner)
	s, direct := httptest.NewServer(p), httptest.NewServer(inner)
	t.Cleanup(s.Close)
	t.Cleanup(direct.Close)
	r := &tagRig{p: p, host: strings.TrimPrefix(s.URL, "http://"), directHost: strings.TrimPrefix(direct.URL, "http://")}
	r.a = fixture.Image(t, fixture.Platform(t, "linux/amd64"), 96, true)
	r.b = fixture.Image(t, fixture.Platform(t, "linux/amd64"), 97, true)
	r.aDigest, _ = r.a.Digest()
	r.bDigest, _ = r.b.Digest()
	return r
}

// push pushes a, with an SBOM referrer, to repo:v1 through the proxy.
func (r *tagRig) push(t *testing.T, repo string) (*PushReport, error) {
	return Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: r.a}, Tags: tagsOf(t, r.host+"/"+repo+":v1"),
		Referrers: []v1.Image{sbomReferrer(t, r.a, `{}`)}}}, PushOptions{Transport: fastRetries()})
}

// pushListed pushes a, with an SBOM referrer, to tr:TAG for each of tags,
// with PushOptions.Listed showing the listed tags in tr.
func (r *tagRig) pushListed(t *testing.T, tags []string, listed ...string) (*PushReport, error) {
	var refs []string
	for _, tag := range tags {
		refs = append(refs, r.host+"/tr:"+tag)
	}
	l := map[string]bool{}
	for _, tag := range listed {
		l[tag] = true
	}
	ts := tagsOf(t, refs...)
	return Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: r.a}, Tags: ts,
		Referrers: []v1.Image{sbomReferrer(t, r.a, `{}`)}}},
		PushOptions{Transport: fastRetries(), Listed: map[string]map[string]bool{ts[0].Context().Name(): l}})
}

// tagReads counts the HEADs of tr:tag that started before the referrers
// API GET (held by the test) ended, and those that started after.
func (r *tagRig) tagReads(t *testing.T, tag string) (early, late int) {
	t.Helper()
	var refEnd time.Time
	for _, e := range r.p.Log() {
		if e.Method == "GET" && strings.Contains(e.Path, "/tr/referrers/") {
			refEnd = e.End
		}
	}
	if refEnd.IsZero() {
		t.Fatal("no referrers API GET was logged")
	}
	for _, e := range r.p.Log() {
		if e.Method == "HEAD" && strings.HasSuffix(e.Path, "/tr/manifests/"+tag) {
			if e.Time.Before(refEnd) {
				early++
			} else {
				late++
			}
		}
	}
	return early, late
}

// writeDirect is another writer putting img at repo:v1.
func (r *tagRig) writeDirect(t *testing.T, repo string, img v1.Image) error {
	return remote.Write(tagsOf(t, r.directHost+"/"+repo+":v1")[0], img)
}

// pushedOnce pushes a to tr:v1 and clears the proxy's log: the repository
// then holds the image, and its tag is in place.
func (r *tagRig) pushedOnce(t *testing.T) {
	t.Helper()
	if _, err := r.push(t, "tr"); err != nil {
		t.Fatal(err)
	}
	r.p.ResetLog()
}

// holdReferrers holds the referrers API GET of tr, and so the push's
// referrers step, until the returned channel is closed.
func (r *tagRig) holdReferrers() chan struct{} {
	hold := make(chan struct{})
	r.p.Add(&faultproxy.Rule{Method: "GET", Path: faultproxy.PathRe(`/tr/referrers/`), Action: faultproxy.Action{Wait: hold}})
	return hold
}

// wantMovedBack checks that tr:v1 is at a again and that rep says the
// push moved it there from b.
func (r *tagRig) wantMovedBack(t *testing.T, rep *PushReport) {
	t.Helper()
	if got := fixture.ValidateRemote(t, r.host+"/tr:v1"); got != r.aDigest {
		t.Errorf("v1 = %s, want %s (moved back)", got, r.aDigest)
	}
	if tr := rep.Artifacts[0].Tags; len(tr) != 1 || tr[0].Status != TagMoved || tr[0].Previous != r.bDigest.String() {
		t.Errorf("tag report %+v, want moved from %s", tr, r.bDigest)
	}
}

// until polls cond for up to two seconds.
func until(cond func() bool) bool {
	for range 400 {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// The tag of an image the push put is read once the image is in place,
// while its referrers are pushed; the tags step then creates it at once,
// without reading it again.
func TestPush_TagsReadWithReferrers(t *testing.T) {
	r := newTagRig(t)
	hold := r.holdReferrers()
	read := make(chan bool, 1)
	go func() {
		defer close(hold)
		read <- until(func() bool { return r.p.Count("HEAD", `/tr/manifests/v1$`, 0) > 0 })
	}()
	rep, err := r.push(t, "tr")
	if err != nil {
		t.Fatal(err)
	}
	if !<-read {
		t.Fatal("the tag was not read while the referrers step was held")
	}
	if tr := rep.Artifacts[0].Tags; len(tr) != 1 || tr[0].Status != TagCreated {
		t.Errorf("tag report %+v, want created", tr)
	}
	if n := r.p.Count("HEAD", `/tr/manifests/v1$`, 0); n != 1 {
		t.Errorf("%d HEADs of the tag, want 1 (read early, then put at once)", n)
	}
	if got := fixture.ValidateRemote(t, r.host+"/tr:v1"); got != r.aDigest {
		t.Errorf("v1 = %s, want %s", got, r.aDigest)
	}
}

// A re-push of an image the repository has reads a tag the caller's
// listing shows (PushOptions.Listed) once, at the tags step: such a tag is
// most often in place, and read early it would be read twice. Moved
// meanwhile by another writer, it is moved back (last writer wins, as
// always), not reported unchanged.
func TestPush_RepushListedTagReadOnce(t *testing.T) {
	r := newTagRig(t)
	r.pushedOnce(t)
	hold := r.holdReferrers()
	moved := make(chan error, 1)
	go func() {
		defer close(hold)
		// The referrers step is held once the image manifest was found;
		// another writer moves the tag meanwhile.
		if !until(func() bool { return r.p.Count("HEAD", `/tr/manifests/sha256:`, 0) > 0 }) {
			moved <- errors.New("the image manifest was not asked for")
			return
		}
		moved <- r.writeDirect(t, "tr", r.b)
	}()
	rep, err := r.pushListed(t, []string{"v1"}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	r.wantMovedBack(t, rep)
	if early, late := r.tagReads(t, "v1"); early != 0 || late != 1 {
		t.Errorf("the tag was read %d times while the referrers were held and %d after, want 0 and 1", early, late)
	}
	// With nobody else writing, a re-push reads the tag once and leaves it.
	r.p.Clear()
	r.p.ResetLog()
	rep, err = r.pushListed(t, []string{"v1"}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if tr := rep.Artifacts[0].Tags; len(tr) != 1 || tr[0].Status != TagUnchanged {
		t.Errorf("tag report %+v, want unchanged", tr)
	}
	if n := r.p.Count("HEAD", `/tr/manifests/v1$`, 0); n != 1 {
		t.Errorf("%d HEADs of the tag, want 1", n)
	}
}

// A re-push's tag the listing does not show (a new per-commit tag on an
// image the repository has) is read early, while the referrers go up, and
// created at once at the tags step; a tag of a repository without a
// listing is read early too.
func TestPush_RepushNewTagReadEarly(t *testing.T) {
	r := newTagRig(t)
	r.pushedOnce(t)
	hold := r.holdReferrers()
	read := make(chan bool, 1)
	go func() {
		defer close(hold)
		read <- until(func() bool { return r.p.Count("HEAD", `/tr/manifests/v2$`, 0) > 0 })
	}()
	rep, err := r.pushListed(t, []string{"v1", "v2"}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if !<-read {
		t.Fatal("the new tag was not read while the referrers were held")
	}
	if tr := rep.Artifacts[0].Tags; len(tr) != 2 || tr[0].Status != TagUnchanged || tr[1].Status != TagCreated {
		t.Errorf("tag report %+v, want v1 unchanged, v2 created", tr)
	}
	if early, late := r.tagReads(t, "v1"); early != 0 || late != 1 {
		t.Errorf("v1 was read %d times while the referrers were held and %d after, want 0 and 1", early, late)
	}
	if early, late := r.tagReads(t, "v2"); early != 1 || late != 0 {
		t.Errorf("v2 was read %d times while the referrers were held and %d after, want 1 and 0", early, late)
	}
	// No listing: the tag in place is read early, and again.
	r.p.Clear()
	r.p.ResetLog()
	if _, err := r.push(t, "tr"); err != nil {
		t.Fatal(err)
	}
	if n := r.p.Count("HEAD", `/tr/manifests/v1$`, 0); n != 2 {
		t.Errorf("without a listing: %d HEADs of the tag, want 2", n)
	}
}

// A tag read early as already at the pushed digest (another writer pushed
// the same image meanwhile) is read again at the tags step: moved by then,
// it is moved back, not reported unchanged.
func TestPush_EarlyTagAtDigestReadAgain(t *testing.T) {
	r := newTagRig(t)
	holdHead, holdRef := make(chan struct{}), make(chan struct{})
	r.p.Add(&faultproxy.Rule{Method: "HEAD", Path: faultproxy.PathRe(`/tr/manifests/v1$`), Times: 1, Action: faultproxy.Action{Wait: holdHead}},
		&faultproxy.Rule{Method: "GET", Path: faultproxy.PathRe(`/tr/referrers/`), Action: faultproxy.Action{Wait: holdRef}})
	moved := make(chan error, 1)
	go func() {
		defer close(holdRef)
		err := func() error {
			defer close(holdHead)
			// The image is in place; the early tag read is held while
			// another writer tags the same image.
			if !until(func() bool { return r.p.Count("PUT", `/tr/manifests/sha256:`, 0) > 0 }) {
				return errors.New("the image manifest was not put")
			}
			return r.writeDirect(t, "tr", r.a)
		}()
		if err != nil {
			moved <- err
			return
		}
		// The early read saw the tag at a; the referrers step is still
		// held while the other writer moves the tag to b.
		if !until(func() bool { return r.p.Count("HEAD", `/tr/manifests/v1$`, 0) > 0 }) {
			moved <- errors.New("the tag was not read early")
			return
		}
		moved <- r.writeDirect(t, "tr", r.b)
	}()
	rep, err := r.push(t, "tr")
	if err != nil {
		t.Fatal(err)
	}
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	r.wantMovedBack(t, rep)
	if n := r.p.Count("HEAD", `/tr/manifests/v1$`, 0); n != 2 {
		t.Errorf("%d HEADs of the tag, want 2 (early, and again before leaving it alone)", n)
	}
}

// An artifact a repository is known to hold (PushRequest.Present, a
// registry cache hit) is neither checked nor uploaded there, and its tag,
// listed there, is read once, at the tags step.
func TestPush_PresentReadsTagOnce(t *testing.T) {
	r := newTagRig(t)
	r.pushedOnce(t)
	tags := tagsOf(t, r.host+"/tr:v1")
	rep, err := Push(context.Background(), []PushRequest{{Artifact: oci.Artifact{Image: r.a}, Tags: tags,
		Present: []name.Repository{tags[0].Context()}}},
		PushOptions{Transport: fastRetries(), Listed: map[string]map[string]bool{tags[0].Context().Name(): {"v1": true}}})
	if err != nil {
		t.Fatal(err)
	}
	if tr := rep.Artifacts[0].Tags; len(tr) != 1 || tr[0].Status != TagUnchanged {
		t.Errorf("tag report %+v, want unchanged", tr)
	}
	var other []string
	for _, e := range r.p.Log() {
		if !strings.HasSuffix(e.Path, "/tr/manifests/v1") && e.Path != "/v2/" {
			other = append(other, e.Method+" "+e.Path)
		}
	}
	if n := r.p.Count("HEAD", `/tr/manifests/v1$`, 0); n != 1 || len(other) > 0 {
		t.Errorf("%d HEADs of the tag (want 1), and other requests %q (want none)", n, other)
	}
}
