package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/webhook"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// newObservedPageServer is newPageServer with metrics and the log kept.
func newObservedPageServer(t *testing.T, f webhook.Factor) (http.Handler, *metrics.Metrics, *bytes.Buffer) {
	t.Helper()
	r, err := ui.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m := metrics.New()
	s, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{"https://app.example"},
		LoginURL: "https://app.example/login", BaseURL: "https://cp.example"},
		webhook.Deps{Factor: f, UI: r, Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler(), m, &logs
}

// TestStepUpPageOutagesCountAsFailures: a /2fa "call me" or code refused
// because the store, the provider or Kratos is down still answers with the
// POST-redirect-GET to the page saying so, but is counted under its 503 and
// logged at error level, so the 5xx metrics, alerts and the span see the
// step-up path failing. A user's refusal (a limit) stays counted under the
// 303 it was answered with, at info level.
func TestStepUpPageOutagesCountAsFailures(t *testing.T) {
	errs := []struct {
		name   string
		err    error
		code   string // callpass_http_requests_total's code label
		errLvl bool   // request line at error level
	}{
		{"store down", fmt.Errorf("x: %w", challenge.ErrStoreUnavailable), "503", true},
		{"provider down", fmt.Errorf("x: %w", flashcall.ErrUnavailable), "503", true},
		{"kratos down", fmt.Errorf("x: %w", kratos.ErrUnavailable), "503", true},
		{"kratos odd answer", fmt.Errorf("x: %w", kratos.ErrUnexpected), "502", true},
		{"rate limited", &limit.LimitError{Kind: limit.KindNumber, RetryAfter: time.Minute}, "303", false},
	}
	routes := []struct {
		route, target string
		form          url.Values
		start         bool // the error comes from StepUpStart, else StepUpVerify
	}{
		{"/2fa", "/2fa?lang=en", url.Values{}, true},
		{"/2fa", "/2fa?lang=en", url.Values{"challenge_id": {"c1"}, "resend": {"true"}}, true},
		{"/2fa/verify", "/2fa/verify?lang=en", url.Values{"challenge_id": {"c1"}, "code": {"1234"}}, false},
		{"/2fa/verify", "/2fa/verify?lang=en", url.Values{"challenge_id": {"c1"}, "resend": {"true"}}, true},
	}
	for _, rt := range routes {
		for _, tc := range errs {
			t.Run(rt.target+" "+rt.form.Encode()+" "+tc.name, func(t *testing.T) {
				f := &pageFactor{recorder: &recorder{}}
				if rt.start {
					f.startErr = tc.err
				} else {
					f.verifyErr = tc.err
				}
				h, m, logs := newObservedPageServer(t, f)
				rec := pageDo(h, http.MethodPost, rt.target, rt.form, "https://app.example")
				loc, err := url.Parse(rec.Header().Get("Location"))
				if rec.Code != http.StatusSeeOther || err != nil || loc.Path != "/2fa" || loc.Query().Get("error") == "" {
					t.Fatalf("answer %d Location %q, want 303 to /2fa with the refusal", rec.Code, rec.Header().Get("Location"))
				}
				if n := httpRequests(t, m, rt.route, tc.code); n != 1 {
					t.Errorf("callpass_http_requests_total{route=%q,code=%q} = %v, want 1", rt.route, tc.code, n)
				}
				if tc.code != "303" {
					if n := httpRequests(t, m, rt.route, "303"); n != 0 {
						t.Errorf("callpass_http_requests_total{route=%q,code=\"303\"} = %v, want 0", rt.route, n)
					}
				}
				if got := strings.Contains(logs.String(), "level=ERROR msg=request "); got != tc.errLvl {
					t.Errorf("request line at error level: %v, want %v:\n%s", got, tc.errLvl, logs.String())
				}
				// What was written is still the redirect.
				if !strings.Contains(logs.String(), " status=303 ") {
					t.Errorf("request line lacks the written status=303:\n%s", logs.String())
				}
			})
		}
	}
}

// outageGetFactor fails StepUpGet: the GET page rendered for a challenge.
type outageGetFactor struct {
	pageFactor
	getErr error
}

func (o *outageGetFactor) StepUpGet(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	return factor.ChallengeView{}, o.getErr
}

// StepUpFollow: the page reads its challenge through it.
func (o *outageGetFactor) StepUpFollow(ctx context.Context, c factor.Creds, id string) (factor.ChallengeView, error) {
	return o.StepUpGet(ctx, c, id)
}

// TestStepUpPageGetOutageCountsAsFailure: GET /2fa?challenge=… that cannot
// read its challenge (store down) shows the page with the message and is
// counted and logged as the 503 it is.
func TestStepUpPageGetOutageCountsAsFailure(t *testing.T) {
	f := &outageGetFactor{pageFactor: pageFactor{recorder: &recorder{}}, getErr: fmt.Errorf("x: %w", challenge.ErrStoreUnavailable)}
	h, m, logs := newObservedPageServer(t, f)
	rec := pageDo(h, http.MethodGet, "/2fa?lang=en&challenge=c1", nil, "")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("answer %d %q, want the 503 page", rec.Code, rec.Header().Get("Content-Type"))
	}
	if n := httpRequests(t, m, "/2fa", "503"); n != 1 {
		t.Errorf("callpass_http_requests_total{code=\"503\"} = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=request ") {
		t.Errorf("request line not at error level:\n%s", logs.String())
	}
}

// formFactor records what the /2fa forms handed the factor.
type formFactor struct {
	pageFactor
	mu      sync.Mutex
	codes   []string
	ids     []string
	resends []bool
}

func (f *formFactor) StepUpStart(ctx context.Context, c factor.Creds, resend bool, ip string) (factor.ChallengeView, error) {
	f.mu.Lock()
	f.resends = append(f.resends, resend)
	f.mu.Unlock()
	return f.pageFactor.StepUpStart(ctx, c, resend, ip)
}

// StepUpResend: the page's "call me again" naming a challenge.
func (f *formFactor) StepUpResend(ctx context.Context, c factor.Creds, _, ip string) (factor.ChallengeView, error) {
	return f.StepUpStart(ctx, c, true, ip)
}

func (f *formFactor) StepUpVerify(ctx context.Context, c factor.Creds, id, code string, o factor.TokenOptions) (factor.VerifyOutput, error) {
	f.mu.Lock()
	f.codes, f.ids = append(f.codes, code), append(f.ids, id)
	f.mu.Unlock()
	return f.pageFactor.StepUpVerify(ctx, c, id, code, o)
}

// TestStepUpPageFormFieldsOnlyFromBody: the /2fa forms' fields (code,
// challenge_id, resend) are read from the POST body only. A code in the
// query string (where access logs and proxies record it) is not taken: the
// answer is the one to an empty code.
func TestStepUpPageFormFieldsOnlyFromBody(t *testing.T) {
	newF := func() *formFactor {
		return &formFactor{pageFactor: pageFactor{recorder: &recorder{},
			verifyErr: &challenge.WrongCodeError{AttemptsLeft: 2, Format: true}}}
	}

	// The code only in the query: as if none were sent.
	fq := newF()
	hq := newPageServer(t, fq)
	got := pageDo(hq, http.MethodPost, "/2fa/verify?lang=en&code=1234&challenge_id=c9", url.Values{"challenge_id": {"c1"}}, "https://app.example")
	fe := newF()
	want := pageDo(newPageServer(t, fe), http.MethodPost, "/2fa/verify?lang=en", url.Values{"challenge_id": {"c1"}, "code": {""}}, "https://app.example")
	if len(fq.codes) != 1 || fq.codes[0] != "" || fq.ids[0] != "c1" {
		t.Errorf("query code: factor got codes %q ids %q, want one empty code for c1", fq.codes, fq.ids)
	}
	if got.Code != want.Code || got.Header().Get("Location") != want.Header().Get("Location") {
		t.Errorf("query code answered %d %q, an empty code %d %q", got.Code, got.Header().Get("Location"),
			want.Code, want.Header().Get("Location"))
	}
	if strings.Contains(got.Header().Get("Location"), "1234") {
		t.Errorf("the code is carried on: %q", got.Header().Get("Location"))
	}

	// A code in the body is still read; the query cannot replace it.
	fb := newF()
	pageDo(newPageServer(t, fb), http.MethodPost, "/2fa/verify?code=9999&challenge_id=c9", url.Values{"challenge_id": {"c1"}, "code": {"1234"}}, "https://app.example")
	if len(fb.codes) != 1 || fb.codes[0] != "1234" || fb.ids[0] != "c1" {
		t.Errorf("body code: factor got codes %q ids %q, want 1234 for c1", fb.codes, fb.ids)
	}

	// resend only from the body: in the query it neither turns a verify
	// into a call nor asks a new one.
	fr := newF()
	hr := newPageServer(t, fr)
	pageDo(hr, http.MethodPost, "/2fa/verify?resend=true", url.Values{"challenge_id": {"c1"}, "code": {"1234"}}, "https://app.example")
	pageDo(hr, http.MethodPost, "/2fa?resend=true", url.Values{}, "https://app.example")
	if len(fr.codes) != 1 || len(fr.resends) != 1 || fr.resends[0] {
		t.Errorf("query resend: %d verifies, resends %v; want 1 verify and one start without resend", len(fr.codes), fr.resends)
	}
	pageDo(hr, http.MethodPost, "/2fa?lang=en", url.Values{"resend": {"true"}, "challenge_id": {"c1"}}, "https://app.example")
	if len(fr.resends) != 2 || !fr.resends[1] {
		t.Errorf("body resend: resends %v, want the second true", fr.resends)
	}

	// A refused resend keeps the challenge of the body, not of the query.
	fc := newF()
	fc.startErr = &limit.LimitError{Kind: limit.KindNumber, RetryAfter: time.Hour}
	rec := pageDo(newPageServer(t, fc), http.MethodPost, "/2fa?lang=en&challenge_id=c9", url.Values{"resend": {"true"}}, "https://app.example")
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || strings.Contains(loc, "c9") {
		t.Errorf("query challenge_id carried on: %d %q", rec.Code, loc)
	}
}
