package spec

import "testing"

func TestEditDistance(t *testing.T) {
	long := string(make([]byte, 65))
	for _, tt := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"defualt.conf", "default.conf", 2}, {"shar", "share", 1},
		{"abc", "", 3}, {"kitten", "sitting", 3}, {"entrypiont", "entrypoint", 2},
		{long, long, 1 << 20}, // too long to be a suggestion
	} {
		if got := EditDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}
