package kratos

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNewKeepsURLSecrets: a Kratos URL may carry credentials or an api_key
// query; New's errors describe what is wrong without repeating it.
func TestNewKeepsURLSecrets(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"bad scheme", Config{PublicURL: "ftp://user:S3CRET@kratos:4433/?api_key=K3Y", AdminURL: "http://b"}, "PublicURL must be an absolute http(s) URL (its scheme"},
		{"no host", Config{PublicURL: "http://a", AdminURL: "http:///admin?api_key=K3Y#S3CRET"}, "AdminURL must be an absolute http(s) URL (it has no host)"},
		{"unparsable", Config{PublicURL: "http://user:S3CRET@kratos:44x3/?api_key=K3Y", AdminURL: "http://b"}, "PublicURL is not a valid URL"},
		{"control character", Config{PublicURL: "http://a", AdminURL: "http://user:S3CRET@kratos/\n?api_key=K3Y"}, "AdminURL is not a valid URL"},
		{"empty", Config{PublicURL: "", AdminURL: "http://user:S3CRET@kratos/?api_key=K3Y"}, "PublicURL is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
			for _, s := range []string{"S3CRET", "K3Y", "user"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("err %q repeats %q", err, s)
				}
			}
		})
	}
}

// TestWhoamiDecodeErrorKeepsTraits: the JSON decoder's errors quote the
// input around the fault, and whoami's traits hold a phone number; the
// error (returned, and logged at error level) describes the fault without
// any of it.
func TestWhoamiDecodeErrorKeepsTraits(t *testing.T) {
	const number = "79991234567"
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"syntax error after the number", minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"phone":"+79991234567"x}}`), "invalid JSON in whoami answer at offset"},
		{"bare number", minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"phone":+79991234567}}`), "invalid JSON in whoami answer at offset"},
		{"cut off in the number", minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"phone":"+7999123`), "invalid JSON in whoami answer at offset"},
		{"number as identity id", minimal(`{"id":79991234567,"traits":{"phone":"+79991234567"}}`), "member identity.id has the wrong JSON type (want string"},
		{"number as active", `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":79991234567,"identity":{"traits":{"phone":"+79991234567"}}}`, "member active has the wrong JSON type (want bool"},
		{"number as a time", `{"id":"5e1b7b4a-0000-4000-8000-000000000001","expires_at":"+79991234567","identity":{"traits":{"phone":"+79991234567"}}}`, "not RFC 3339"},
		{"array", `["+79991234567"]`, "whoami answer is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Session(context.Background(), "", "ory_st_token")
			if !errors.Is(err, ErrUnexpected) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want ErrUnexpected containing %q", err, tt.wantErr)
			}
			for i := 0; i+4 <= len(number); i++ {
				if run := number[i : i+4]; strings.Contains(err.Error(), run) {
					t.Fatalf("err %q holds %q, part of the phone number", err, run)
				}
			}
		})
	}
}
