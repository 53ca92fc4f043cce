package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	stdhtml "html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// These tests pin checks of the HTTP layer that a mutation-testing pass
// found unguarded: each case names the check it holds.

// hookHdr is what Kratos sends with a hook body.
func hookHdr() map[string]string {
	return map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}
}

// postHook posts body to a hook of h.
func postHook(h http.Handler, path string, hdr map[string]string, body []byte) (int, apiErr, string) {
	w := do(h, reqSpec{method: http.MethodPost, path: path, hdr: hdr, body: bytes.NewReader(body), length: int64(len(body))})
	var e apiErr
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return w.Code, e, w.Body.String()
}

// hookMessageIDs are the Kratos message ids of a hook answer.
func hookMessageIDs(body string) []int {
	var km hookAnswer
	_ = json.Unmarshal([]byte(body), &km)
	var ids []int
	for _, i := range km.Messages {
		for _, m := range i.Messages {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// TestGateRefusalWithoutMessageNeverPasses (W15, W16): a gate error that has no
// Kratos message of its own, and a gate decision that is neither allow nor
// challenge, must never let the flow through: no 2xx, the mapped refusal.
func TestGateRefusalWithoutMessageNeverPasses(t *testing.T) {
	tests := []struct {
		name     string
		decision factor.GateDecision
		err      error
		status   int    // the hook's answer (hookStatus of the mapped status)
		code     string // the mapped error code
	}{
		{"invalid request", factor.GateDecision{Allow: true}, challenge.ErrInvalidRequest, 400, "invalid_request"},
		{"invalid request, wrapped", factor.GateDecision{Allow: true}, errors.Join(errors.New("gate"), challenge.ErrInvalidRequest), 400, "invalid_request"},
		{"identity not found", factor.GateDecision{Allow: true}, kratos.ErrIdentityNotFound, 404, "not_found"},
		{"kratos forbidden", factor.GateDecision{Allow: true}, kratos.ErrForbidden, 403, "forbidden"},
		{"not gated", factor.GateDecision{Allow: true}, factor.ErrNotGated, 403, "forbidden"},
		{"no session", factor.GateDecision{Allow: true}, kratos.ErrNoSession, 401, "no_session"},
		{"no credentials", factor.GateDecision{Allow: true}, factor.ErrNoCredentials, 401, "no_session"},
		{"audience not allowed", factor.GateDecision{Allow: true}, jwt.ErrAudienceNotAllowed, 400, "invalid_target"},
		{"payload error", factor.GateDecision{Allow: true}, &webhook.PayloadError{Reason: "x"}, 400, "invalid_request"},
		// W16: neither allow nor a challenge is a failure of ours: answered
		// 400 (Kratos would retry a 5xx) with the "unavailable" message.
		{"empty decision", factor.GateDecision{}, nil, 400, "internal_error"},
		{"empty decision with metadata", factor.GateDecision{MetadataPublic: map[string]any{"x": 1}}, nil, 400, "internal_error"},
	}
	for _, tt := range tests {
		for _, path := range []string{"/hooks/kratos/login", "/hooks/kratos/registration", "/hooks/kratos/settings"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				rec := &recorder{decision: tt.decision, err: tt.err}
				code, e, body := postHook(newServer(t, rec, nil), path, hookHdr(), validBody())
				if code >= 200 && code < 300 {
					t.Fatalf("the gate refused (%v) but the hook answered %d %s: the flow goes through", tt.err, code, body)
				}
				if code != tt.status || e.Error != tt.code {
					t.Errorf("answer %d %q, want %d %q: %s", code, e.Error, tt.status, tt.code, body)
				}
				if ids := hookMessageIDs(body); len(ids) != 1 || ids[0] != 4090010 {
					t.Errorf("Kratos messages %v, want the one 4090010: %s", ids, body)
				}
				if rec.count() != 1 {
					t.Errorf("gate calls %d, want 1", rec.count())
				}
			})
		}
	}
}

// TestGateInputFields (W24): every payload field the gate reads
// reaches it, phone_trait included.
func TestGateInputFields(t *testing.T) {
	tests := []struct {
		name, trait string
	}{
		{"nested trait", "contact.phone"},
		{"plain trait", "phone"},
		{"no trait", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := validBody()
			if tt.trait != "" {
				body = bytes.Replace(body, []byte(`"client_ip"`), []byte(`"phone_trait":"`+tt.trait+`","client_ip"`), 1)
			}
			rec := &recorder{decision: factor.GateDecision{Allow: true}}
			if code, _, b := postHook(newServer(t, rec, nil), "/hooks/kratos/registration", hookHdr(), body); code != 200 {
				t.Fatalf("answer %d %s", code, b)
			}
			if len(rec.gateIn) != 1 {
				t.Fatalf("gate calls %d", len(rec.gateIn))
			}
			in := rec.gateIn[0]
			if in.PhoneTrait != tt.trait {
				t.Errorf("gate input PhoneTrait %q, want %q", in.PhoneTrait, tt.trait)
			}
			if in.Hook != factor.HookRegistration || in.FlowType != "api" || string(in.Traits) != `{"phone":"+79001234567"}` {
				t.Errorf("gate input %+v", in)
			}
		})
	}
	// The decoder on its own.
	p, err := webhook.DecodeHookPayload(bytes.Replace(validBody(), []byte(`"client_ip"`), []byte(`"phone_trait":"contact.phone","client_ip"`), 1))
	if err != nil || p.PhoneTrait != "contact.phone" {
		t.Errorf("DecodeHookPayload: PhoneTrait %q, %v", p.PhoneTrait, err)
	}
}

// TestHookPayloadFieldsStrict (W11, W12): ids must be UUIDs, field names
// match exactly; a refused body never reaches the factor.
func TestHookPayloadFieldsStrict(t *testing.T) {
	repl := func(old, new string) []byte {
		b := bytes.Replace(validBody(), []byte(old), []byte(new), 1)
		if bytes.Equal(b, validBody()) {
			panic("no " + old + " in the body")
		}
		return b
	}
	tests := []struct {
		name string
		body []byte
		text string // in the message
	}{
		{"identity_id not a uuid", repl(identityID, "not-a-uuid"), "identity_id must be a UUID"},
		{"identity_id 36 chars, not hex", repl(identityID, "zzzzzzzz-bbbb-4ccc-8ddd-eeeeeeeeeeee"), "identity_id must be a UUID"},
		{"identity_id without dashes", repl(identityID, "aaaaaaaaXbbbbX4cccX8dddXeeeeeeeeeeee"), "identity_id must be a UUID"},
		{"identity_id empty", repl(identityID, ""), "identity_id must be a UUID"},
		{"identity_id missing", repl(`"identity_id":"`+identityID+`",`, ""), "identity_id must be a UUID"},
		{"Identity_ID", repl(`"identity_id"`, `"Identity_ID"`), `unexpected field`},
		{"IDENTITY_ID", repl(`"identity_id"`, `"IDENTITY_ID"`), `unexpected field`},
		{"Flow_Id", repl(`"flow_id"`, `"Flow_Id"`), `unexpected field`},
		{"Client_IP", repl(`"client_ip"`, `"Client_IP"`), `unexpected field`},
		{"session.AAL", repl(`"aal"`, `"AAL"`), `unexpected field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{decision: factor.GateDecision{Allow: true}}
			code, e, body := postHook(newServer(t, rec, nil), "/hooks/kratos/login", hookHdr(), tt.body)
			if code != 400 || e.Error != "invalid_request" || !strings.Contains(e.Message, tt.text) {
				t.Errorf("answer %d %+v, want 400 invalid_request with %q: %s", code, e, tt.text, body)
			}
			if rec.count() != 0 {
				t.Errorf("the factor was called %d times", rec.count())
			}
			if _, err := webhook.DecodeHookPayload(tt.body); err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("DecodeHookPayload: %v, want an error with %q", err, tt.text)
			}
		})
	}
	// Control: the exact names are accepted.
	if _, err := webhook.DecodeHookPayload(validBody()); err != nil {
		t.Fatalf("valid body refused: %v", err)
	}
}

// TestEmptyWebhookSecretRefusesAll (W01): a server configured without a webhook
// secret refuses every hook request, an empty Bearer included.
func TestEmptyWebhookSecretRefusesAll(t *testing.T) {
	for _, auth := range []string{"Bearer ", "Bearer", "Bearer x", "", "Bearer " + secret} {
		t.Run(strconv.Quote(auth), func(t *testing.T) {
			rec := &recorder{decision: factor.GateDecision{Allow: true}}
			s, err := webhook.New(webhook.Config{WebhookSecret: ""},
				webhook.Deps{Factor: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			hdr := map[string]string{"Content-Type": "application/json"}
			if auth != "" {
				hdr["Authorization"] = auth
			}
			for _, path := range []string{"/hooks/kratos/login", "/hooks/kratos/settings"} {
				code, e, body := postHook(s.Handler(), path, hdr, validBody())
				if code != http.StatusUnauthorized || e.Error != "unauthorized" {
					t.Errorf("%s: %d %s, want 401", path, code, body)
				}
			}
			if rec.count() != 0 {
				t.Errorf("the factor was called %d times", rec.count())
			}
		})
	}
}

// TestHookBodyAtLimit (W04): a body of exactly 64 KiB is read, not
// refused for its size; one byte more is.
func TestHookBodyAtLimit(t *testing.T) {
	const limit = 64 << 10
	// Pad inside traits (free-form there) to reach n bytes exactly.
	sized := func(n int) []byte {
		base := bytes.Replace(validBody(), []byte(`"phone"`), []byte(`"pad":"","phone"`), 1)
		return bytes.Replace(base, []byte(`"pad":""`), []byte(`"pad":"`+strings.Repeat("x", n-len(base))+`"`), 1)
	}
	tests := []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"exactly 64 KiB", limit, false, 200},
		{"exactly 64 KiB, chunked", limit, true, 200},
		{"64 KiB - 1", limit - 1, false, 200},
		{"64 KiB + 1", limit + 1, false, 400},
		{"64 KiB + 1, chunked", limit + 1, true, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := sized(tt.size)
			if len(body) != tt.size || !json.Valid(body) {
				t.Fatalf("test body: %d bytes, valid JSON %v", len(body), json.Valid(body))
			}
			rec := &recorder{decision: factor.GateDecision{Allow: true}}
			spec := reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", hdr: hookHdr(), body: bytes.NewReader(body), length: int64(len(body))}
			if tt.chunked {
				spec.body, spec.length = struct{ io.Reader }{bytes.NewReader(body)}, -1
			}
			w := do(newServer(t, rec, nil), spec)
			var e apiErr
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != tt.want {
				t.Errorf("%d bytes: %d %+v, want %d", len(body), w.Code, e, tt.want)
			}
			if tt.want == 200 && (strings.Contains(e.Message, "larger than") || rec.count() != 1) {
				t.Errorf("%d bytes refused for its size: %+v, gate calls %d", len(body), e, rec.count())
			}
			if tt.want == 400 && (!strings.Contains(e.Message, "body larger than 64 KiB") || rec.count() != 0) {
				t.Errorf("%d bytes: %+v, gate calls %d, want the size refusal", len(body), e, rec.count())
			}
		})
	}
}

// TestReturnToOnlyAllowedOrigins (W18): after a confirmed code, /2fa redirects
// only to return_to on an allowed origin; anything else gets the page's
// own "done" page (a redirect to it on this service).
func TestReturnToOnlyAllowedOrigins(t *testing.T) {
	tests := []struct {
		returnTo string
		redirect bool
	}{
		{"https://app.example/account?tab=2", true},
		{"https://APP.example/x", true},
		{"https://evil.example/x", false},
		{"http://app.example/x", false},               // another scheme is another origin
		{"https://app.example:8443/x", false},         // and another port
		{"https://app.example.evil.example/x", false}, // an allowed origin as a prefix
		{"https://app.example@evil.example/x", false}, // userinfo
		{"https://evil.example/https://app.example/", false},
		{"//evil.example/x", false},
		{"/relative", false},
		{"javascript:alert(1)", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.returnTo, func(t *testing.T) {
			f := &pageFactor{recorder: &recorder{}}
			h := newPageServer(t, f)
			target := "/2fa/verify?lang=en"
			if tt.returnTo != "" {
				target += "&return_to=" + url.QueryEscape(tt.returnTo)
			}
			rec := pageDo(h, http.MethodPost, target, url.Values{"challenge_id": {"c1"}, "code": {"1234"}}, "https://app.example")
			if f.verifies != 1 {
				t.Fatalf("verifies %d, want 1 (%d %s)", f.verifies, rec.Code, rec.Body)
			}
			loc := rec.Header().Get("Location")
			if tt.redirect {
				if rec.Code != http.StatusSeeOther || loc != tt.returnTo {
					t.Errorf("%d Location %q, want 303 to %q", rec.Code, loc, tt.returnTo)
				}
				return
			}
			// Only to this service's own page saying it is confirmed.
			u, err := url.Parse(loc)
			if rec.Code != http.StatusSeeOther || err != nil || u.Scheme != "" || u.Host != "" || u.Path != "/2fa" || u.Query().Get("challenge") != "c1" {
				t.Errorf("%d Location %q, want 303 to /2fa?challenge=c1 here", rec.Code, loc)
			}
		})
	}
}

// TestRetryAtCap (W26): a /2fa refusal link shows a retry time of at
// most a day (the longest real wait): a month is a forged link and shows none.
func TestRetryAtCap(t *testing.T) {
	h := newPageServer(t, &pageFactor{recorder: &recorder{}})
	now := time.Now()
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	tests := []struct {
		name, retryAt string
		shown         bool
	}{
		{"30 days", at(30 * 24 * time.Hour), false},
		{"2 days", at(48 * time.Hour), false},
		{"25 hours", at(25 * time.Hour), false},
		{"23 hours", at(23 * time.Hour), true},
		{"2 hours", at(2 * time.Hour), true},
	}
	for _, tt := range tests {
		for _, page := range []string{"/2fa?lang=en&challenge=c1&", "/2fa?lang=en&"} {
			t.Run(tt.name+" "+page, func(t *testing.T) {
				rec := pageDo(h, http.MethodGet, page+"error=4090005&retry_at="+tt.retryAt, nil, "")
				body := rec.Body.String()
				text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
				if rec.Code != http.StatusOK || !strings.Contains(text, "Phone confirmation is temporarily blocked") {
					t.Fatalf("%d, no blocked message:\n%s", rec.Code, text)
				}
				// The wait appears as "Try again in <n> h" and as a
				// machine-readable time in the markup.
				shown := regexp.MustCompile(`Try again in \d`).MatchString(text)
				if shown != tt.shown {
					t.Errorf("retry time shown: %v, want %v:\n%s", shown, tt.shown, text)
				}
				if !tt.shown && (strings.Contains(text, "Try again in .") || !strings.Contains(text, "Try again later.")) {
					t.Errorf("without a time the page must say \"Try again later.\":\n%s", text)
				}
			})
		}
	}
}
