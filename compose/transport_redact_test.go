package compose

import "testing"

// TestRedact pins what is scrubbed from messages and what is kept.
func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`PUT https://r.io/v2/a/blobs/uploads/x?digest=sha256:ab&X-Amz-Signature=SEKRET`, `PUT https://r.io/v2/a/blobs/uploads/x?digest=sha256:ab&X-Amz-Signature=REDACTED`},
		{`GET https://r.io/token?scope=repository:a:pull&service=r.io&token=SEKRET`, `GET https://r.io/token?scope=repository:a:pull&service=r.io&token=REDACTED`},
		{`Authorization: Bearer abcdef123456`, `Authorization: Bearer REDACTED`},
		{`Authorization: Basic YWxpY2U6czNjcmV0`, `Authorization: Basic REDACTED`},
		{`{"token":"SEKRET","expires_in":300}`, `{"token":"REDACTED","expires_in":300}`},
		{`pulling https://alice:s3cret@r.io/v2/`, `pulling https://REDACTED@r.io/v2/`},
		// A reference typed with credentials and no scheme.
		{`repository "alice:s3cretPW@127.0.0.1:5000/x": invalid`, `repository "REDACTED@127.0.0.1:5000/x": invalid`},
		{`alice:pw@r.io/x`, `REDACTED@r.io/x`},
		// Pinned references and ordinary text are left alone.
		{`resolving base nginx:1.27@sha256:0123abcd: not found`, `resolving base nginx:1.27@sha256:0123abcd: not found`},
		{`docker.io/library/nginx:1.27@sha256:0123abcd`, `docker.io/library/nginx:1.27@sha256:0123abcd`},
		{`image.yaml:3:7: layers[0].files[0].src: x`, `image.yaml:3:7: layers[0].files[0].src: x`},
		{`mail me at user@example.com`, `mail me at user@example.com`},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got  %q\n want %q", tt.in, got, tt.want)
		}
	}
}
