package diff

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ConfigChange is one config field whose value differs between two configs.
// Values are rendered as text: strings as they are, lists and sets as JSON,
// and "" for unset (`""` for a variable or label set to the empty string).
type ConfigChange struct {
	// Field names the field: "os", "cmd", "env.APP_ENV", "labels.KEY", …
	Field string `json:"field"`
	// Base is the value in the first config (the base image's, for a
	// plan), New the value in the second.
	Base string `json:"base"`
	New  string `json:"new"`
}

// Config lists the fields of b that differ from a, field by field in a fixed
// order (environment variables and labels by name, names sorted).
func Config(a, b *v1.ConfigFile) []ConfigChange {
	var out []ConfigChange
	add := func(field, x, y string) {
		if x != y {
			out = append(out, ConfigChange{Field: field, Base: x, New: y})
		}
	}
	add("os", a.OS, b.OS)
	add("architecture", a.Architecture, b.Architecture)
	add("variant", a.Variant, b.Variant)
	add("created", renderTime(a.Created), renderTime(b.Created))
	ac, bc := a.Config, b.Config
	add("entrypoint", jsonList(ac.Entrypoint), jsonList(bc.Entrypoint))
	add("cmd", jsonList(ac.Cmd), jsonList(bc.Cmd))
	aenv, benv := envMap(ac.Env), envMap(bc.Env)
	for _, k := range unionKeys(aenv, benv) {
		add("env."+k, valueOf(aenv, k), valueOf(benv, k))
	}
	add("workdir", ac.WorkingDir, bc.WorkingDir)
	add("user", ac.User, bc.User)
	for _, k := range unionKeys(ac.Labels, bc.Labels) {
		add("labels."+k, valueOf(ac.Labels, k), valueOf(bc.Labels, k))
	}
	add("ports", jsonSet(ac.ExposedPorts), jsonSet(bc.ExposedPorts))
	add("volumes", jsonSet(ac.Volumes), jsonSet(bc.Volumes))
	add("stopSignal", ac.StopSignal, bc.StopSignal)
	return out
}

// valueOf renders m[k]: "" when k is absent (unset), and `""` when k is
// present with an empty value, so the two stay apart.
func valueOf(m map[string]string, k string) string {
	v, ok := m[k]
	if ok && v == "" {
		return `""`
	}
	return v
}

func renderTime(t v1.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z07:00")
}

func jsonList(l []string) string {
	if l == nil {
		return ""
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func jsonSet(m map[string]struct{}) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(slices.Sorted(maps.Keys(m)))
	return string(b)
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func unionKeys(a, b map[string]string) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
