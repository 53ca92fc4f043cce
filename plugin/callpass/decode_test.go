package callpass

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

var sentinels = []error{
	flashcall.ErrUnauthorized, flashcall.ErrInsufficientBalance, flashcall.ErrDestinationNotAllowed,
	flashcall.ErrCallNotFound, flashcall.ErrInvalidRequest, flashcall.ErrUnavailable, flashcall.ErrBadResponse,
}

func TestDecodeResponseSamples(t *testing.T) {
	tests := []struct {
		body       string
		wantResult string
		wantCallID string
		wantPin    string
		wantPhone  string
		wantKind   error
	}{
		{sampleV1NoAnswer, "NO_ANSWER", "527f2b9b-1124-4c6f-a5fb-b9b239d923e4", "0446", "", nil},
		{sampleSuccessPin, "success", "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", "7127", "", nil},
		{sampleV2Async, "null", "58597b21-2a59-480a-a3f0-96a1eec77ae9", "", "4610", nil},
		{sampleV3Async, "null", "58597b21-2a59-480a-a3f0-96a1eec77ae9", "", "2214610", nil},
		{sampleV2Status, "NORMAL_CLEARING", "4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d", "", "", nil},
		{`{"status":"success","data":{"result":"null","callid":"x","phone":2214610}}`, "null", "x", "", "2214610", nil},
		{sampleDestination, "", "", "", "", flashcall.ErrDestinationNotAllowed},
		{sampleCantFind, "", "", "", "", flashcall.ErrCallNotFound},
		{sampleBalance, "", "", "", "", flashcall.ErrInsufficientBalance},
		{`{"status":"error","message":"can't find callid"}`, "", "", "", "", flashcall.ErrCallNotFound},
		{`{"status":"success","message":"something odd"}`, "", "", "", "", flashcall.ErrInvalidRequest},
		{`{"status":"success","data":{"result":"null","pin":1.5}}`, "", "", "", "", flashcall.ErrBadResponse},
		{`{"status":"success","data":{"result":"null"}} trailing`, "", "", "", "", flashcall.ErrBadResponse},
	}
	for _, tt := range tests {
		env, err := DecodeResponse(200, "application/json", []byte(tt.body))
		if tt.wantKind != nil {
			if !errors.Is(err, tt.wantKind) || env != nil {
				t.Errorf("DecodeResponse(%s) = %+v, %v; want %v", tt.body, env, err, tt.wantKind)
			}
			continue
		}
		if err != nil {
			t.Errorf("DecodeResponse(%s): %v", tt.body, err)
			continue
		}
		d := env.Data
		if env.Status != "success" || d.Result != tt.wantResult || d.CallID != tt.wantCallID || d.Pin != tt.wantPin || d.Phone != tt.wantPhone {
			t.Errorf("DecodeResponse(%s) = %+v %+v", tt.body, env, d)
		}
	}
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range documentSamples {
		f.Add(200, "application/json", []byte(s))
	}
	for _, s := range []string{
		"", " ", "null", "[]", "{}", `{"status":null}`, `{"status":"error"}`, `{"status":"success"}`,
		`{"status":"success","data":null}`, `{"status":"success","data":{"result":null}}`,
		`{"status":"success","data":{"result":"error"}}`, `{"status":"success","data":{"result":7}}`,
		`{"status":"success","data":{"result":"null","callId":"a","phone":"2214610"}}`,
		"<html><body>502 Bad Gateway</body></html>", "\xff\xfe{}", `{"status":"success","message":"balance"}`,
	} {
		f.Add(200, "application/json", []byte(s))
	}
	f.Add(502, "text/html", []byte("<html>\r\n<head><title>502 Bad Gateway</title></head></html>"))
	f.Add(401, "application/json", []byte(`{"status":"error","message":"unauthorized"}`))
	f.Add(403, "text/plain", []byte("Forbidden"))
	f.Add(500, "application/json", []byte(sampleV3Async))
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte) {
		env, err := DecodeResponse(status, ctype, body)
		if err != nil {
			if env != nil {
				t.Fatal("envelope returned with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			known := false
			for _, s := range sentinels {
				if e.Kind == s {
					known = true
				}
			}
			if !known {
				t.Fatalf("Kind %v is not a flashcall sentinel", e.Kind)
			}
			if !e.Sent || e.HTTPStatus != status {
				t.Fatalf("error does not carry the exchange: %+v", e)
			}
			for _, s := range []string{e.Excerpt, e.Message, e.ContentType} {
				if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Fatalf("unsafe text in error: %q", s)
				}
			}
			if len(e.Excerpt) > maxExcerpt || len(e.Message) > maxMessage {
				t.Fatalf("error text too long: %d/%d", len(e.Excerpt), len(e.Message))
			}
			if strings.Contains(e.Error(), "\n") {
				t.Fatalf("Error() spans lines: %q", e.Error())
			}
			return
		}
		if env == nil || env.Data == nil {
			t.Fatal("success without data")
		}
		if status < 200 || status > 299 {
			t.Fatalf("success with HTTP %d", status)
		}
		if !strings.EqualFold(strings.TrimSpace(env.Status), "success") {
			t.Fatalf("success with status %q", env.Status)
		}
		if strings.EqualFold(strings.TrimSpace(env.Data.Result), "error") {
			t.Fatal("success with result error")
		}
		if !utf8.Valid(body) {
			t.Fatal("success on a non-UTF-8 body")
		}
		// Whatever the start path derives must be self-consistent.
		for _, v := range []int{1, 2, 3} {
			if code, ok := codeFrom(v, 4, env.Data.Pin, env.Data.Phone); ok {
				if len(code) < 4 || strings.Trim(code, "0123456789") != "" {
					t.Fatalf("v%d code %q is not digits", v, code)
				}
				if v == 3 && len(code) != 4 {
					t.Fatalf("v3 code %q has length %d", code, len(code))
				}
			}
		}
		_ = flashcall.Classify(env.Data.Result) // must not panic
	})
}
