package attach

import (
	"context"
	"fmt"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/semaphore"

	"github.com/strata-build/strata/compose"
	"github.com/strata-build/strata/compose/basetree"
	"github.com/strata-build/strata/compose/layer"
	"github.com/strata-build/strata/compose/oci"
	"github.com/strata-build/strata/compose/sbom"
)

// SBOMObserver returns the compose.Observer that records, into memo, the
// layer inventories the SBOMs of the built images need, from the streams
// the build reads and writes anyway: strata's layers as they are written,
// the base's layers as the check against the base reads them. Give Make
// the same memo (Options.Memo) and it reads no layer the build streamed.
func SBOMObserver(memo *sbom.Memo) compose.Observer { return sbomObserver{memo} }

type sbomObserver struct{ memo *sbom.Memo }

func (o sbomObserver) Blob(context.Context) layer.BlobObserver { return o.memo.Observe() }

func (o sbomObserver) BaseLayer(d v1.Hash) basetree.LayerVisitor {
	if v := o.memo.VisitBase(d); v != nil {
		return v
	}
	return nil // not a typed nil: the layer need not be read
}

// sboms makes the SBOM of every platform image of res, concurrently within
// o.Limit, in platform order. The first error in platform order is
// returned.
func sboms(ctx context.Context, res *compose.Result, o Options) ([]Document, error) {
	limit := o.Limit
	if limit == nil {
		limit = semaphore.NewWeighted(1)
	}
	docs := make([]Document, len(res.Platforms))
	errs := make([]error, len(res.Platforms))
	var wg sync.WaitGroup
	for i, pr := range res.Platforms {
		wg.Go(func() {
			if errs[i] = limit.Acquire(ctx, 1); errs[i] != nil {
				return
			}
			defer limit.Release(1)
			docs[i], errs[i] = platformSBOM(ctx, res, pr, o)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// platformSBOM makes the SBOM of one platform image of res.
func platformSBOM(ctx context.Context, res *compose.Result, pr compose.PlatformResult, o Options) (Document, error) {
	img, desc, err := platformImage(res, pr)
	if err != nil {
		return Document{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return Document{}, fmt.Errorf("sbom %s: %w", pr.Platform, err)
	}
	sources := map[string]string{}
	for _, l := range pr.Layers {
		for _, e := range l.Entries {
			if e.Type == "file" && e.Source != "" {
				sources[e.Target] = e.Source
			}
		}
	}
	doc, err := sbom.Generate(ctx, img, len(pr.Layers),
		sbom.Subject{Name: o.Name, Digest: pr.Digest, Platform: pr.Platform.String()},
		sbom.Base{Name: res.BaseName, Digest: pr.BaseDigest},
		o.SBOMFormat, sbom.Options{Sources: sources, Created: cfg.Created.Time, Tool: o.Tool, Memo: o.Memo})
	if err != nil {
		return Document{}, fmt.Errorf("sbom %s: %w", pr.Platform, err)
	}
	mt := o.SBOMFormat.MediaType()
	ref, err := oci.NewReferrer(desc, mt, []oci.Document{{MediaType: mt, Data: doc,
		Annotations: map[string]string{oci.TitleAnnotation: sbomFileName(o.SBOMFormat)}}}, nil)
	if err != nil {
		return Document{}, err
	}
	return Document{Kind: "sbom", Platform: pr.Platform.String(), Subject: pr.Digest, MediaType: mt, Data: doc, Referrer: ref}, nil
}

func sbomFileName(f sbom.Format) string {
	if f == sbom.CycloneDX {
		return "sbom.cdx.json"
	}
	return "sbom.spdx.json"
}
