package diff

import (
	"fmt"
	"io"
	"strings"
)

// Summary returns one line saying what differs, e.g.
//
//	3 files changed in layer 2 "site"; config: env.APP_ENV
//
// with each platform's part prefixed by the platform when the images have
// several, or "same: DIGEST" when the digests are equal.
func (r *Report) Summary() string {
	if r.Same {
		return "same: " + r.A
	}
	var parts []string
	for _, p := range r.OnlyA {
		parts = append(parts, "platform "+p+" only in A")
	}
	for _, p := range r.OnlyB {
		parts = append(parts, "platform "+p+" only in B")
	}
	for _, p := range r.Platforms {
		s := p.Summary()
		if len(r.Platforms) > 1 || len(r.OnlyA)+len(r.OnlyB) > 0 {
			s = p.Platform + ": " + s
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "the manifests differ"
	}
	return strings.Join(parts, "; ")
}

// Summary says what differs between the platform's two images, in one line.
func (p *Platform) Summary() string {
	var parts []string
	for _, l := range p.Layers {
		switch l.Status {
		case LayerSame:
		case LayerRecompressed:
			parts = append(parts, fmt.Sprintf("layer %s compressed differently", l.label()))
		case LayerAdded, LayerRemoved:
			parts = append(parts, fmt.Sprintf("layer %s %s (%s)", l.label(), l.Status, plural(len(l.Changes), "entry", "entries")))
		default:
			parts = append(parts, fmt.Sprintf("%s changed in layer %s", plural(len(l.Changes), "file", "files"), l.label()))
		}
	}
	var fields []string
	for _, c := range p.Config {
		fields = append(fields, c.Field)
	}
	for _, c := range p.Annotations {
		fields = append(fields, c.Field)
	}
	if len(fields) > 0 {
		parts = append(parts, "config: "+strings.Join(fields, ", "))
	}
	if len(parts) == 0 {
		return "the manifests differ"
	}
	return strings.Join(parts, "; ")
}

// FirstLayer returns the first layer that is not the same on both sides, or
// nil.
func (p *Platform) FirstLayer() *Layer {
	for i := range p.Layers {
		if p.Layers[i].Status != LayerSame {
			return &p.Layers[i]
		}
	}
	return nil
}

// label is "2" or `2 "site"`.
func (l *Layer) label() string {
	if l.Name == "" {
		return fmt.Sprint(l.Index)
	}
	return fmt.Sprintf("%d %q", l.Index, l.Name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// WriteText writes the report for people: the summary line, then for each
// platform the config changes, every layer's status and each differing
// path with what changed.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.Summary() + "\n")
	if r.Same {
		_, err := io.WriteString(w, b.String())
		return err
	}
	// An index's digests; a single image's are on its platform line.
	if len(r.Platforms) != 1 || r.Platforms[0].A != r.A || r.Platforms[0].B != r.B {
		fmt.Fprintf(&b, "A %s\nB %s\n", r.A, r.B)
	}
	for _, p := range r.OnlyA {
		fmt.Fprintf(&b, "platform %s: only in A\n", p)
	}
	for _, p := range r.OnlyB {
		fmt.Fprintf(&b, "platform %s: only in B\n", p)
	}
	for _, p := range r.Platforms {
		fmt.Fprintf(&b, "platform %s: %s -> %s\n", p.Platform, p.A, p.B)
		for _, c := range append(append([]ConfigChange(nil), p.Config...), p.Annotations...) {
			fmt.Fprintf(&b, "  config %s: %s -> %s\n", c.Field, quoteOrUnset(c.Base), quoteOrUnset(c.New))
		}
		for _, l := range p.Layers {
			switch l.Status {
			case LayerSame:
				fmt.Fprintf(&b, "  layer %s: same %s\n", l.label(), l.A)
			case LayerAdded:
				fmt.Fprintf(&b, "  layer %s: only in B %s\n", l.label(), l.B)
			case LayerRemoved:
				fmt.Fprintf(&b, "  layer %s: only in A %s\n", l.label(), l.A)
			default:
				fmt.Fprintf(&b, "  layer %s: %s %s -> %s\n", l.label(), l.Status, l.A, l.B)
			}
			for _, c := range l.Changes {
				fmt.Fprintf(&b, "    %s %s\n", c.Kind, c.Path)
				for _, f := range c.Fields {
					fmt.Fprintf(&b, "      %s: %s -> %s\n", f.Field, quoteOrUnset(f.A), quoteOrUnset(f.B))
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// quoteOrUnset renders a value: "(unset)" for "".
func quoteOrUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}
