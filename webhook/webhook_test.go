package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

const secret = "unit-webhook-secret-0123456789abcdef0123"

// recorder is a webhook.Factor that records every call and answers with
// what the test configured.
type recorder struct {
	mu       sync.Mutex
	calls    []string
	gateIn   []factor.GateInput
	decision factor.GateDecision
	err      error
	opts     []factor.TokenOptions // what each Exchange / StepUpVerify was asked
}

func (r *recorder) note(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, name)
}

func (r *recorder) noteOpts(o factor.TokenOptions) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts = append(r.opts, o)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *recorder) Gate(_ context.Context, in factor.GateInput) (factor.GateDecision, error) {
	r.note("gate")
	r.mu.Lock()
	r.gateIn = append(r.gateIn, in)
	r.mu.Unlock()
	return r.decision, r.err
}

func (r *recorder) StepUpStart(context.Context, factor.Creds, bool, string) (factor.ChallengeView, error) {
	r.note("start")
	return factor.ChallengeView{ID: "c1", Placed: true}, r.err
}

func (r *recorder) StepUpGet(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	r.note("get")
	return factor.ChallengeView{ID: "c1"}, r.err
}

func (r *recorder) StepUpFollow(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	r.note("get")
	return factor.ChallengeView{ID: "c1"}, r.err
}

func (r *recorder) StepUpResend(context.Context, factor.Creds, string, string) (factor.ChallengeView, error) {
	r.note("start")
	return factor.ChallengeView{ID: "c1", Placed: true}, r.err
}

func (r *recorder) StepUpVerify(_ context.Context, _ factor.Creds, _, _ string, opts factor.TokenOptions) (factor.VerifyOutput, error) {
	r.note("verify")
	r.noteOpts(opts)
	return factor.VerifyOutput{}, r.err
}

func (r *recorder) Exchange(_ context.Context, _ factor.Creds, opts factor.TokenOptions) (factor.TokenView, error) {
	r.note("exchange")
	r.noteOpts(opts)
	return factor.TokenView{}, r.err
}

func newServer(t *testing.T, f webhook.Factor, logw io.Writer) http.Handler {
	t.Helper()
	if logw == nil {
		logw = io.Discard
	}
	s, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{"https://app.example"}},
		webhook.Deps{Factor: f, Logger: slog.New(slog.NewTextHandler(logw, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

const (
	flowID     = "11111111-2222-4333-8444-555555555555"
	identityID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
)

func validBody() []byte {
	return []byte(`{"flow_id":"` + flowID + `","flow_type":"api","identity_id":"` + identityID + `",` +
		`"traits":{"phone":"+79001234567"},"metadata_public":null,"transient_payload":{"callpass_code":"1234"},` +
		`"session":{"authenticated_at":"2026-01-02T03:04:05.123456Z","expires_at":"2026-01-03T03:04:05Z","aal":"aal1"},"client_ip":"192.0.2.1",` +
		`"accept_language":"ru-RU,ru;q=0.9"}`)
}

type reqSpec struct {
	method, path string
	hdr          map[string]string
	body         io.Reader
	length       int64 // -1: unknown (chunked)
}

func do(h http.Handler, r reqSpec) *httptest.ResponseRecorder {
	req := httptest.NewRequest(r.method, r.path, r.body)
	if r.length != 0 {
		req.ContentLength = r.length
	}
	for k, v := range r.hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

type apiErr struct {
	Error        string `json:"error"`
	Message      string `json:"message"`
	AttemptsLeft *int   `json:"attempts_left"`
	RetryAfter   *int   `json:"retry_after"`
	RequestID    string `json:"request_id"`
}

// TestHookRefusedBeforeWork: a request that fails authentication, size,
// content type or decoding never reaches the factor.
func TestHookRefusedBeforeWork(t *testing.T) {
	auth := "Bearer " + secret
	jsonCT := "application/json"
	pad := func(n int) []byte {
		return bytes.Replace(validBody(), []byte(`"phone"`), []byte(`"pad":"`+strings.Repeat("x", n)+`","phone"`), 1)
	}
	cases := []struct {
		name       string
		hdr        map[string]string
		body       []byte
		chunked    bool
		wantStatus int
		wantCode   string
		wantText   string
	}{
		// The refusal says what to fix in kratos.yml: the auth block, the
		// scheme, or the secret (it said "expected Authorization: Bearer
		// <webhook.secret>" alike for all three).
		{"no auth", map[string]string{"Content-Type": jsonCT}, validBody(), false, 401, "unauthorized", "no Authorization header"},
		{"wrong secret", map[string]string{"Authorization": "Bearer x" + secret, "Content-Type": jsonCT}, validBody(), false, 401, "unauthorized", "the Bearer value is not webhook.secret"},
		{"lower-case scheme", map[string]string{"Authorization": "bearer " + secret, "Content-Type": jsonCT}, validBody(), false, 401, "unauthorized", `does not start with "Bearer "`},
		{"no scheme", map[string]string{"Authorization": secret, "Content-Type": jsonCT}, validBody(), false, 401, "unauthorized", `does not start with "Bearer "`},
		{"trailing space", map[string]string{"Authorization": auth + " ", "Content-Type": jsonCT}, validBody(), false, 401, "unauthorized", "the Bearer value is not webhook.secret"},
		{"over 64 KiB", map[string]string{"Authorization": auth, "Content-Type": jsonCT}, pad(64 << 10), false, 400, "invalid_request", "64 KiB"},
		{"over 64 KiB chunked", map[string]string{"Authorization": auth, "Content-Type": jsonCT}, pad(64 << 10), true, 400, "invalid_request", "64 KiB"},
		{"text/plain", map[string]string{"Authorization": auth, "Content-Type": "text/plain"}, validBody(), false, 400, "invalid_request", "Content-Type"},
		{"json suffix type", map[string]string{"Authorization": auth, "Content-Type": "application/problem+json"}, validBody(), false, 400, "invalid_request", "Content-Type"},
		{"bad media type", map[string]string{"Authorization": auth, "Content-Type": "application/json; =="}, validBody(), false, 400, "invalid_request", "Content-Type"},
		{"malformed", map[string]string{"Authorization": auth, "Content-Type": jsonCT}, []byte(`{"flow_id":"x"`), false, 400, "invalid_request", "malformed JSON"},
		{"unknown field", map[string]string{"Authorization": auth, "Content-Type": jsonCT}, []byte(`{"flow_id":"` + flowID + `","identity_id":"` + identityID + `","admin":true}`), false, 400, "invalid_request", "unexpected field"},
		// A code not a string is no broken body but the app's mistake,
		// told on the flow: TestHookFieldOfTheWrongType.
		{"bad flow type", map[string]string{"Authorization": auth, "Content-Type": jsonCT}, bytes.Replace(validBody(), []byte(`"api"`), []byte(`"native"`), 1), false, 400, "invalid_request", "flow_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			h := newServer(t, rec, nil)
			spec := reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", hdr: c.hdr, body: bytes.NewReader(c.body)}
			if c.chunked {
				spec.body, spec.length = struct{ io.Reader }{bytes.NewReader(c.body)}, -1
			}
			w := do(h, spec)
			var e apiErr
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("answer is not JSON: %d %s", w.Code, w.Body)
			}
			if w.Code != c.wantStatus || e.Error != c.wantCode || !strings.Contains(e.Message, c.wantText) {
				t.Errorf("got %d %+v, want %d %q with text containing %q", w.Code, e, c.wantStatus, c.wantCode, c.wantText)
			}
			// Kratos shows its user only the messages format: an
			// "unavailable" error naming the refusal, not a generic page.
			var km struct {
				Messages []struct {
					InstancePtr string `json:"instance_ptr"`
					Messages    []struct {
						ID      int            `json:"id"`
						Text    string         `json:"text"`
						Type    string         `json:"type"`
						Context map[string]any `json:"context"`
					} `json:"messages"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &km); err != nil || len(km.Messages) != 1 || len(km.Messages[0].Messages) != 1 {
				t.Fatalf("no Kratos messages in %s (%v)", w.Body, err)
			}
			m := km.Messages[0].Messages[0]
			if km.Messages[0].InstancePtr != "#/" || m.ID != 4090010 || m.Type != "error" || m.Text == "" || m.Context["error"] != c.wantCode {
				t.Errorf("Kratos message %+v", km.Messages[0])
			}
			if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") != `Bearer realm="callpass-kratos"` {
				t.Errorf("401 without a Bearer challenge: %q", w.Header().Get("WWW-Authenticate"))
			}
			if n := rec.count(); n != 0 {
				t.Errorf("the factor was called %d times", n)
			}
		})
	}
	// Control: the same server with the right request reaches the factor,
	// with the payload decoded.
	rec := &recorder{decision: factor.GateDecision{Allow: true}}
	w := do(newServer(t, rec, nil), reqSpec{method: http.MethodPost, path: "/hooks/kratos/login",
		hdr: map[string]string{"Authorization": auth, "Content-Type": "application/json; charset=utf-8"}, body: bytes.NewReader(validBody())})
	if w.Code != http.StatusOK || rec.count() != 1 {
		t.Fatalf("valid request: %d %s, factor calls %d", w.Code, w.Body, rec.count())
	}
	in := rec.gateIn[0]
	if in.Hook != factor.HookLogin || in.FlowID != flowID || in.IdentityID != identityID || in.Code != "1234" ||
		in.ClientIP != "192.0.2.1" || in.AuthenticatedAt.IsZero() || !in.SessionExpiresAt.Equal(time.Date(2026, 1, 3, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("gate input: %+v", in)
	}
}

// TestErrorMapping pins the one error→HTTP map: every typed error gives its
// documented API status and code, and its documented Kratos message id.
func TestErrorMapping(t *testing.T) {
	provider := &callpass.Error{Kind: flashcall.ErrUnavailable, Op: "start", Message: "no answer within 10s"}
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		msgID      int
		retryAfter int
		attempts   int // -1: not present
	}{
		{"wrong code", &challenge.WrongCodeError{AttemptsLeft: 2}, 400, "wrong_code", 4090001, 0, 2},
		{"wrong format", &challenge.WrongCodeError{AttemptsLeft: 1, Format: true}, 400, "invalid_code", 4090011, 0, 1},
		{"last attempt", &challenge.WrongCodeError{AttemptsLeft: 0}, 423, "locked", 4090003, 0, 0},
		// The lock that starts the identity's ban says the ban.
		{"last attempt, now banned", &challenge.WrongCodeError{AttemptsLeft: 0, BannedFor: 15 * time.Minute}, 429, "blocked", 4090005, 900, 0},
		{"expired", fmt.Errorf("verify: %w", challenge.ErrExpired), 410, "expired", 4090002, 0, -1},
		{"used", challenge.ErrAlreadyUsed, 410, "expired", 4090002, 0, -1},
		{"called another number", fmt.Errorf("verify: %w", challenge.ErrNumberChanged), 410, "expired", 4090002, 0, -1},
		{"locked", challenge.ErrLocked, 423, "locked", 4090003, 0, -1},
		{"not found", challenge.ErrNotFound, 404, "not_found", 4090002, 0, -1},
		{"per number", &limit.LimitError{Kind: limit.KindNumber, RetryAfter: 89500 * time.Millisecond}, 429, "rate_limited", 4090004, 90, -1},
		{"global budget", &limit.LimitError{Kind: limit.KindGlobal, RetryAfter: time.Hour}, 429, "rate_limited", 4090004, 3600, -1},
		{"regulation", &limit.LimitError{Kind: limit.KindRegulation, RetryAfter: 15 * time.Minute}, 429, "blocked", 4090005, 900, -1},
		{"destination", &limit.LimitError{Kind: limit.KindDestination}, 422, "destination_not_allowed", 4090012, 0, -1},
		{"cooldown", &challenge.CooldownError{RetryAfter: 20 * time.Second}, 429, "cooldown", 4090006, 20, -1},
		{"resends used up", &challenge.CooldownError{RetryAfter: 4 * time.Minute, ResendsExhausted: true}, 429, "cooldown", 4090006, 240, -1},
		{"no phone", factor.ErrNoPhone, 409, "no_phone", 4090007, 0, -1},
		{"not delivered", factor.ErrNotDelivered, 409, "call_not_delivered", 4090008, 0, -1},
		// A synchronous start the network failed, without a code.
		{"not delivered, the start's answer", fmt.Errorf("challenge: start call via callpass: %w", &callpass.Error{Kind: flashcall.ErrNotDelivered, Op: "start"}), 409, "call_not_delivered", 4090008, 0, -1},
		{"provider unavailable", fmt.Errorf("challenge: start call: %w", provider), 503, "provider_unavailable", 4090009, 0, -1},
		{"provider low balance", &callpass.Error{Kind: flashcall.ErrInsufficientBalance}, 503, "provider_unavailable", 4090009, 0, -1},
		{"provider refused destination", &callpass.Error{Kind: flashcall.ErrDestinationNotAllowed}, 422, "destination_not_allowed", 4090012, 0, -1},
		{"store down", fmt.Errorf("%w: get: dial tcp: refused", challenge.ErrStoreUnavailable), 503, "store_unavailable", 4090010, 0, -1},
		{"kratos down", kratos.ErrUnavailable, 503, "kratos_unavailable", 4090010, 0, -1},
		{"unexpected", errors.New("boom +79001234567 1234"), 500, "internal_error", 4090010, 0, -1},
		// An empty code (no attempt to count): the format message, not
		// "wrong code".
		{"invalid code", challenge.ErrInvalidCode, 400, "invalid_code", 4090011, 0, -1},
		{"invalid code, wrapped", fmt.Errorf("verify: %w", challenge.ErrInvalidCode), 400, "invalid_code", 4090011, 0, -1},
		// The provider lost track of the call: a provider failure, not ours.
		{"provider call not found", flashcall.ErrCallNotFound, 503, "provider_unavailable", 4090009, 0, -1},
		{"provider call not found, wrapped", &callpass.Error{Kind: flashcall.ErrCallNotFound, Op: "status"}, 503, "provider_unavailable", 4090009, 0, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			rec := &recorder{err: c.err}
			h := newServer(t, rec, &logs)

			// JSON API.
			w := do(h, reqSpec{method: http.MethodPost, path: "/v1/challenges", hdr: map[string]string{"X-Session-Token": "t"}})
			var e apiErr
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("API answer is not JSON: %s", w.Body)
			}
			if w.Code != c.status || e.Error != c.code || e.Message == "" || e.RequestID == "" {
				t.Errorf("API: %d %+v, want %d %q with a message and a request id", w.Code, e, c.status, c.code)
			}
			if c.retryAfter > 0 {
				if e.RetryAfter == nil || *e.RetryAfter != c.retryAfter || w.Header().Get("Retry-After") != fmt.Sprint(c.retryAfter) {
					t.Errorf("retry_after %v, header %q, want %d", e.RetryAfter, w.Header().Get("Retry-After"), c.retryAfter)
				}
			}
			if c.attempts >= 0 && (e.AttemptsLeft == nil || *e.AttemptsLeft != c.attempts) {
				t.Errorf("attempts_left %v, want %d", e.AttemptsLeft, c.attempts)
			}
			if c.code == "internal_error" && strings.Contains(w.Body.String(), "boom") {
				t.Errorf("an unexpected error's text reached the client: %s", w.Body)
			}
			// An unexpected error says only the generic text, not a factor
			// message that would read as a known outage.
			if c.code == "internal_error" && e.Message != "internal error; the request id identifies it in the service logs" {
				t.Errorf("unexpected error's message %q, want the generic internal text", e.Message)
			}

			// Kratos hook: an interrupt message in Kratos's format.
			w = do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", body: bytes.NewReader(validBody()),
				hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}})
			var km struct {
				Messages []struct {
					InstancePtr string `json:"instance_ptr"`
					Messages    []struct {
						ID   int    `json:"id"`
						Text string `json:"text"`
						Type string `json:"type"`
					} `json:"messages"`
				} `json:"messages"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &km)
			if c.code == "internal_error" {
				// Anything unexpected fails closed: "unavailable, try later", no detail.
				if w.Code != 400 || len(km.Messages) != 1 || km.Messages[0].Messages[0].ID != 4090010 || strings.Contains(w.Body.String(), "boom") {
					t.Errorf("hook, unexpected error: %d %s", w.Code, w.Body)
				}
			} else if w.Code != 400 || len(km.Messages) != 1 || km.Messages[0].InstancePtr != "#/" || len(km.Messages[0].Messages) != 1 ||
				km.Messages[0].Messages[0].ID != c.msgID || km.Messages[0].Messages[0].Type != "error" || km.Messages[0].Messages[0].Text == "" {
				t.Errorf("hook: %d %s, want 400 with error message %d", w.Code, w.Body, c.msgID)
			}
			// Each refusal rides on its request's one access-log line.
			var lines int
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "msg=request ") {
					lines++
					if !strings.Contains(l, " error_code="+c.code+" ") || !strings.Contains(l, " error=") {
						t.Errorf("access-log line without error_code=%s and its error: %s", c.code, l)
					}
				}
			}
			if lines != 2 {
				t.Errorf("%d access-log lines for 2 requests:\n%s", lines, logs.String())
			}
			leaks := []string{secret}
			if c.code != "internal_error" { // that error's own text carries a number on purpose
				leaks = append(leaks, "+79001234567")
			}
			for _, secretish := range leaks {
				if strings.Contains(logs.String(), secretish) {
					t.Errorf("the log holds %q:\n%s", secretish, logs.String())
				}
			}
		})
	}
}

// TestHookAnswers: a challenge interrupts with the info message and its
// context; allow is a 200 JSON body Kratos can parse.
func TestHookAnswers(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 9, 5, 0, time.UTC)
	rec := &recorder{decision: factor.GateDecision{Challenge: &factor.ChallengeView{ID: "abc.0123456789", CodeLength: 4,
		ExpiresAt: exp, ResendAfter: exp.Add(-4 * time.Minute), PhoneMasked: "+7 900 ***-**-67", AttemptsLeft: 3, Placed: true}}}
	h := newServer(t, rec, nil)
	hdr := map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}
	w := do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", hdr: hdr, body: bytes.NewReader(validBody())})
	var km struct {
		Messages []struct {
			Messages []struct {
				ID      int            `json:"id"`
				Type    string         `json:"type"`
				Text    string         `json:"text"`
				Context map[string]any `json:"context"`
			} `json:"messages"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &km); err != nil || w.Code != 400 || len(km.Messages) != 1 {
		t.Fatalf("challenge: %d %s", w.Code, w.Body)
	}
	m := km.Messages[0].Messages[0]
	if m.ID != 1090001 || m.Type != "info" || m.Context["challenge_id"] != "abc.0123456789" ||
		m.Context["expires_at"] != "2026-01-02T03:09:05Z" || m.Context["code_length"] != float64(4) || m.Context["placed"] != true {
		t.Errorf("info message: %+v", m)
	}
	if m.Text == "" {
		t.Error("info message without text")
	}

	rec.decision = factor.GateDecision{Allow: true, MetadataPublic: map[string]any{"phone_verified_at": "x"}}
	w = do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/settings", hdr: hdr, body: bytes.NewReader(validBody())})
	var allow map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &allow); err != nil || w.Code != 200 {
		t.Fatalf("allow: %d %s", w.Code, w.Body)
	}
	if id, _ := allow["identity"].(map[string]any); id == nil || id["metadata_public"] == nil {
		t.Errorf("allow with metadata: %v", allow)
	}
	if got := rec.gateIn[len(rec.gateIn)-1].Hook; got != factor.HookSettings {
		t.Errorf("settings hook reached the factor as %q", got)
	}
}

// TestStepUpCSRF: a cookie-authenticated POST needs an allowed Origin; the
// factor is not called otherwise.
func TestStepUpCSRF(t *testing.T) {
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"cookie without origin", map[string]string{"Cookie": "ory_kratos_session=x"}, 403},
		{"cookie, foreign origin", map[string]string{"Cookie": "ory_kratos_session=x", "Origin": "https://evil.example"}, 403},
		{"cookie, foreign referer", map[string]string{"Cookie": "ory_kratos_session=x", "Referer": "https://evil.example/a"}, 403},
		{"cookie, allowed origin", map[string]string{"Cookie": "ory_kratos_session=x", "Origin": "https://app.example"}, 201},
		{"session token", map[string]string{"X-Session-Token": "t"}, 201},
	}
	for _, c := range cases {
		rec := &recorder{}
		w := do(newServer(t, rec, nil), reqSpec{method: http.MethodPost, path: "/v1/challenges", hdr: c.hdr})
		if w.Code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
		if (c.want == 403) != (rec.count() == 0) {
			t.Errorf("%s: factor calls %d", c.name, rec.count())
		}
	}
}

// TestStepUpBodyLimits: API bodies are small, JSON and strict.
func TestStepUpBodyLimits(t *testing.T) {
	cases := []struct {
		name string
		ct   string
		body string
		want int
	}{
		{"9 KiB", "application/json", `{"code":"` + strings.Repeat("1", 9<<10) + `"}`, 400},
		{"form", "application/x-www-form-urlencoded", `code=1234`, 400},
		{"unknown field", "application/json", `{"code":"1234","identity":"x"}`, 400},
		{"code as number", "application/json", `{"code":1234}`, 400},
		{"ok", "application/json", `{"code":"1234"}`, 200},
	}
	for _, c := range cases {
		rec := &recorder{}
		w := do(newServer(t, rec, nil), reqSpec{method: http.MethodPost, path: "/v1/challenges/abc/verify",
			hdr: map[string]string{"X-Session-Token": "t", "Content-Type": c.ct}, body: strings.NewReader(c.body)})
		if w.Code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
		if (c.want == 200) != (rec.count() == 1) {
			t.Errorf("%s: factor calls %d", c.name, rec.count())
		}
	}
}

// TestRefusalLinesSampled: a flood of one refusal writes at most
// RefusalLogsPerSecond access-log lines a second for it, while failures of
// ours and successes are all logged.
func TestRefusalLinesSampled(t *testing.T) {
	const perSecond, n = 3, 40
	hook := reqSpec{method: http.MethodPost, path: "/hooks/kratos/login",
		hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}}
	tests := []struct {
		name      string
		decision  factor.GateDecision
		err       error
		code      string // error_code on the lines; "" for successes
		perSecond int    // 0: every line
	}{
		{"wrong codes are sampled", factor.GateDecision{}, &challenge.WrongCodeError{AttemptsLeft: 2}, "wrong_code", perSecond},
		{"bans are sampled", factor.GateDecision{}, &limit.LimitError{Kind: limit.KindRegulation, RetryAfter: time.Minute}, "blocked", perSecond},
		{"store failures are all logged", factor.GateDecision{}, fmt.Errorf("%w: dial", challenge.ErrStoreUnavailable), "store_unavailable", n},
		{"unexpected errors are all logged", factor.GateDecision{}, errors.New("boom"), "internal_error", n},
		{"successes are all logged", factor.GateDecision{Allow: true}, nil, "", n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := webhook.New(webhook.Config{WebhookSecret: secret, RefusalLogsPerSecond: perSecond},
				webhook.Deps{Factor: &recorder{decision: tt.decision, err: tt.err}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for range n {
				hook.body = bytes.NewReader(validBody())
				if w := do(s.Handler(), hook); (tt.code == "") != (w.Code == http.StatusOK) {
					t.Fatalf("answer %d %s", w.Code, w.Body)
				}
			}
			// The requests may straddle a second boundary: each second
			// touched allows perSecond lines.
			seconds := int(time.Now().Unix()-start.Unix()) + 1
			var lines, skipped int
			for _, l := range strings.Split(logs.String(), "\n") {
				if !strings.Contains(l, "msg=request ") {
					continue
				}
				lines++
				if tt.code != "" && !strings.Contains(l, " error_code="+tt.code+" ") {
					t.Errorf("line without error_code=%s: %s", tt.code, l)
				}
				// remote_ip is Kratos; the user's address is the hook's client_ip.
				if !strings.Contains(l, " client_ip=192.0.2.1") {
					t.Errorf("hook line without the payload's client_ip: %s", l)
				}
				if _, v, ok := strings.Cut(l, " skipped_similar="); ok {
					k, _ := strconv.Atoi(strings.Fields(v)[0])
					skipped += k
				}
			}
			if tt.perSecond == n {
				if lines != n || skipped != 0 {
					t.Errorf("%d lines (skipped_similar %d) for %d requests, want every one", lines, skipped, n)
				}
				return
			}
			if lines < perSecond || lines > perSecond*seconds {
				t.Errorf("%d lines for %d refusals within %d second(s), want %d to %d", lines, n, seconds, perSecond, perSecond*seconds)
			}
			// Every refusal is on a line or counted on a later one; the
			// last second's skips wait for the next line of their kind.
			if lines+skipped > n || (seconds == 1 && skipped != 0) {
				t.Errorf("%d lines + %d skipped_similar for %d refusals", lines, skipped, n)
			}
		})
	}
}

// panicky is a Factor whose Gate panics (a bug in a dependency).
type panicky struct{ recorder }

func (p *panicky) Gate(context.Context, factor.GateInput) (factor.GateDecision, error) {
	p.note("gate")
	panic("boom")
}

// TestHookErrorsAreNeverRetried: Kratos's webhook client retries 429 and 5xx
// twice and then shows a generic error without our message, so whatever
// goes wrong on a hook (here a panic) is answered 400 with the
// "unavailable" message, once.
func TestHookErrorsAreNeverRetried(t *testing.T) {
	var logs bytes.Buffer
	p := &panicky{}
	m := metrics.New()
	srv, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{"https://app.example"}},
		webhook.Deps{Factor: p, Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	for _, path := range []string{"/hooks/kratos/login", "/hooks/kratos/registration", "/hooks/kratos/settings"} {
		w := do(h, reqSpec{method: http.MethodPost, path: path, body: bytes.NewReader(validBody()),
			hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}})
		var km struct {
			Messages []struct {
				Messages []struct {
					ID int `json:"id"`
				} `json:"messages"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &km)
		if w.Code != http.StatusBadRequest || len(km.Messages) != 1 || len(km.Messages[0].Messages) != 1 ||
			km.Messages[0].Messages[0].ID != 4090010 || strings.Contains(w.Body.String(), "boom") {
			t.Errorf("%s, panicking factor: %d %s, want 400 with message 4090010", path, w.Code, w.Body)
		}
	}
	// Answered 400, but counted and logged as the failure it is, so the
	// alerts on 5xx still see it.
	for _, path := range []string{"/hooks/kratos/login", "/hooks/kratos/registration", "/hooks/kratos/settings"} {
		if n := httpRequests(t, m, path, "500"); n != 1 {
			t.Errorf("%s: callpass_http_requests_total{code=\"500\"} = %v, want 1", path, n)
		}
	}
	if strings.Count(logs.String(), "level=ERROR msg=request ") != 3 {
		t.Errorf("want 3 request lines at error level:\n%s", logs.String())
	}
}

// httpRequests reads callpass_http_requests_total for one route and code.
func httpRequests(t *testing.T, m *metrics.Metrics, route, code string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "callpass_http_requests_total" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mm.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["code"] == code {
				return mm.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestHookOutagesCountAsFailures: a hook refused because the store, the
// provider or Kratos is down is answered 400 with its message (Kratos would
// retry a 5xx and drop the message), but counted under 503 and logged at
// error level, so the 5xx metrics and alerts see the login path failing.
// A user's refusal (a limit) stays a 400 at info level.
func TestHookOutagesCountAsFailures(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		msgID  int
		code   string // callpass_http_requests_total's code label
		errLvl bool   // request line at error level
	}{
		{"store down", fmt.Errorf("x: %w", challenge.ErrStoreUnavailable), 4090010, "503", true},
		{"provider down", fmt.Errorf("x: %w", flashcall.ErrUnavailable), 4090009, "503", true},
		{"kratos down", fmt.Errorf("x: %w", kratos.ErrUnavailable), 4090010, "503", true},
		{"rate limited", &limit.LimitError{Kind: limit.KindNumber, RetryAfter: time.Minute}, 4090004, "400", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			m := metrics.New()
			srv, err := webhook.New(webhook.Config{WebhookSecret: secret},
				webhook.Deps{Factor: &recorder{err: tc.err}, Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			w := do(srv.Handler(), reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", body: bytes.NewReader(validBody()),
				hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}})
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), strconv.Itoa(tc.msgID)) {
				t.Fatalf("answer %d %s, want 400 with message %d", w.Code, w.Body, tc.msgID)
			}
			if n := httpRequests(t, m, "/hooks/kratos/login", tc.code); n != 1 {
				t.Errorf("callpass_http_requests_total{code=%q} = %v, want 1", tc.code, n)
			}
			if got := strings.Contains(logs.String(), "level=ERROR msg=request "); got != tc.errLvl {
				t.Errorf("request line at error level: %v, want %v:\n%s", got, tc.errLvl, logs.String())
			}
		})
	}
}
