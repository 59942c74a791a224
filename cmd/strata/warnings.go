package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// warnHandler prints the library's warnings (slog records at WARN and above)
// as "strata: warning: MESSAGE (key=value ...)" lines; it drops the rest.
type warnHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func (h *warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnHandler) Handle(_ context.Context, r slog.Record) error {
	var kv []string
	add := func(a slog.Attr) bool {
		kv = append(kv, a.Key+"="+a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	msg := "strata: warning: " + r.Message
	if len(kv) > 0 {
		msg += " (" + strings.Join(kv, " ") + ")"
	}
	_, err := fmt.Fprintln(h.w, msg)
	return err
}

func (h *warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &warnHandler{w: h.w, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *warnHandler) WithGroup(string) slog.Handler { return h }
