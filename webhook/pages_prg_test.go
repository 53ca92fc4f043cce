package webhook_test

import (
	"context"
	"fmt"
	stdhtml "html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/webhook"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// pageFactor answers the /2fa page's step-up calls: a live challenge, and
// startErr / verifyErr for the refusals.
type pageFactor struct {
	*recorder
	startErr, verifyErr error
	verifies            int
}

func (p *pageFactor) view() factor.ChallengeView {
	return factor.ChallengeView{ID: "c1", State: "pending", CodeLength: 4, PhoneMasked: "+7 900 ***-**-67",
		ExpiresAt: time.Now().Add(4 * time.Minute), ResendAfter: time.Now().Add(-time.Second), AttemptsLeft: 2}
}

func (p *pageFactor) StepUpStart(context.Context, factor.Creds, bool, string) (factor.ChallengeView, error) {
	if p.startErr != nil {
		// As the factor's refusals before any challenge (limits, bans): no
		// view; a cooldown names the current challenge (pages_tabs_test).
		return factor.ChallengeView{}, p.startErr
	}
	return p.view(), nil
}

func (p *pageFactor) StepUpGet(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	return p.view(), nil
}

func (p *pageFactor) StepUpFollow(ctx context.Context, c factor.Creds, id string) (factor.ChallengeView, error) {
	return p.StepUpGet(ctx, c, id)
}

func (p *pageFactor) StepUpResend(ctx context.Context, c factor.Creds, _, ip string) (factor.ChallengeView, error) {
	return p.StepUpStart(ctx, c, true, ip)
}

func (p *pageFactor) StepUpVerify(context.Context, factor.Creds, string, string, factor.TokenOptions) (factor.VerifyOutput, error) {
	p.verifies++
	return factor.VerifyOutput{}, p.verifyErr
}

func newPageServer(t *testing.T, f webhook.Factor) http.Handler {
	t.Helper()
	r, err := ui.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{"https://app.example"},
		LoginURL: "https://app.example/login", BaseURL: "https://cp.example"},
		webhook.Deps{Factor: f, UI: r, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

func pageDo(h http.Handler, method, target string, form url.Values, origin string) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.Header.Set("Cookie", "ory_kratos_session=x")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// A refused code or call on /2fa answers 303 to a GET page that shows the
// refusal (POST-redirect-GET): reloading it re-sends nothing and burns no
// try. The CSRF check on the POST stays.
func TestStepUpPageRefusalsRedirectToGet(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		form      url.Values
		startErr  error
		verifyErr error
		query     map[string]string // in the Location
		text      string            // on the GET page
		code      bool              // code field on the GET page
	}{
		{"wrong code", "/2fa/verify?lang=en", url.Values{"challenge_id": {"c1"}, "code": {"1111"}}, nil,
			&challenge.WrongCodeError{AttemptsLeft: 2}, map[string]string{"challenge": "c1", "error": "4090001"}, "Wrong code. 2 attempts left.", true},
		{"earlier call's code", "/2fa/verify?lang=ru", url.Values{"challenge_id": {"c1"}, "code": {"2111"}}, nil,
			&challenge.WrongCodeError{AttemptsLeft: 2, EarlierCall: true}, map[string]string{"challenge": "c1", "error": "4090001", "reason": "earlier_call"},
			"Это код из предыдущего звонка. Введите последние цифры номера, с которого звонили последним. Осталось 2 попытки.", true},
		{"too short", "/2fa/verify?lang=ru", url.Values{"challenge_id": {"c1"}, "code": {"11"}}, nil,
			&challenge.WrongCodeError{AttemptsLeft: 2, Format: true}, map[string]string{"challenge": "c1", "error": "4090011"},
			"Код должен состоять ровно из 4 цифр. Осталось 2 попытки.", true},
		{"refused resend", "/2fa?lang=en", url.Values{"challenge_id": {"c1"}, "resend": {"true"}},
			&limit.LimitError{Kind: limit.KindNumber, RetryAfter: time.Hour}, nil,
			map[string]string{"challenge": "c1", "error": "4090004", "limit": "number"}, "Too many calls. You can ask for a new call in 1 h", true},
		{"refused first call", "/2fa?lang=en", url.Values{}, &limit.LimitError{Kind: limit.KindGlobal, RetryAfter: time.Minute}, nil,
			map[string]string{"error": "4090004", "limit": "global"}, "Phone confirmation is unavailable for now.", false},
	}
	for _, tt := range tests {
		f := &pageFactor{recorder: &recorder{}, startErr: tt.startErr, verifyErr: tt.verifyErr}
		h := newPageServer(t, f)
		rec := pageDo(h, http.MethodPost, tt.path, tt.form, "https://app.example")
		if rec.Code != http.StatusSeeOther {
			t.Errorf("%s: POST answered %d, want 303:\n%s", tt.name, rec.Code, rec.Body.String())
			continue
		}
		loc, err := url.Parse(rec.Header().Get("Location"))
		if err != nil || loc.Path != "/2fa" {
			t.Fatalf("%s: Location %q", tt.name, rec.Header().Get("Location"))
		}
		for k, v := range tt.query {
			if got := loc.Query().Get(k); got != v {
				t.Errorf("%s: %s=%q in %s, want %q", tt.name, k, got, loc, v)
			}
		}
		// The GET page, twice (a reload): the same message, no new check.
		before := f.verifies
		for range 2 {
			rec = pageDo(h, http.MethodGet, loc.String(), nil, "")
			body := rec.Body.String()
			text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
			if rec.Code != http.StatusOK || !strings.Contains(text, tt.text) {
				t.Errorf("%s: GET %d lacks %q:\n%s", tt.name, rec.Code, tt.text, body)
			}
			if got := strings.Contains(body, `id="cp-code"`); got != tt.code {
				t.Errorf("%s: code field = %v, want %v", tt.name, got, tt.code)
			}
		}
		if f.verifies != before {
			t.Errorf("%s: reloading the page checked a code", tt.name)
		}
	}
	// The POST still needs an allowed Origin.
	f := &pageFactor{recorder: &recorder{}, verifyErr: &challenge.WrongCodeError{AttemptsLeft: 2}}
	rec := pageDo(newPageServer(t, f), http.MethodPost, "/2fa/verify", url.Values{"challenge_id": {"c1"}, "code": {"1111"}}, "https://evil.example")
	if rec.Code != http.StatusForbidden || f.verifies != 0 {
		t.Errorf("foreign origin: %d, %d verifies", rec.Code, f.verifies)
	}
}

// TestStepUpPageForgedRefusalLink: the refusal a GET /2fa shows comes from
// its query, so a forged link must not make it say anything a real refusal
// could not: no wait longer than a day, no unknown limit kind.
func TestStepUpPageForgedRefusalLink(t *testing.T) {
	h := newPageServer(t, &pageFactor{recorder: &recorder{}})
	far := time.Now().Add(3000 * 24 * time.Hour).Unix()
	soon := time.Now().Add(2 * time.Hour).Unix()
	tests := []struct {
		query         string
		want, notWant string
	}{
		{"error=4090005&retry_at=" + strconv.FormatInt(far, 10), "", "72000"},
		{"error=4090005&retry_at=" + strconv.FormatInt(soon, 10), "2 h", ""},
		{"error=4090004&limit=bogus&retry_at=" + strconv.FormatInt(soon, 10), "Too many attempts", "bogus"},
	}
	for _, tt := range tests {
		rec := pageDo(h, http.MethodGet, "/2fa?lang=en&challenge=c1&"+tt.query, nil, "")
		text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(rec.Body.String(), ""))
		if rec.Code != http.StatusOK || tt.want != "" && !strings.Contains(text, tt.want) || tt.notWant != "" && strings.Contains(text, tt.notWant) {
			t.Errorf("%s: %d, want %q and not %q:\n%s", tt.query, rec.Code, tt.want, tt.notWant, text)
		}
	}
}

// /2fa markup: the defined button classes, one card, a heading on every
// page, the verb "Sign in" on the sign-in link.
func TestStepUpPageMarkup(t *testing.T) {
	f := &pageFactor{recorder: &recorder{}}
	h := newPageServer(t, f)
	for _, tt := range []struct {
		lang, want string
	}{{"en", "Confirm it's you"}, {"ru", "Подтвердите, что это вы"}} {
		body := pageDo(h, http.MethodGet, "/2fa?lang="+tt.lang, nil, "").Body.String()
		if !strings.Contains(body, `<button class="cp-btn cp-btn-primary" type="submit">`) || strings.Contains(body, "cp-button") {
			t.Errorf("%s: start page button class:\n%s", tt.lang, body)
		}
		if n := strings.Count(body, "cp-card"); n != 1 {
			t.Errorf("%s: %d cards (nested)", tt.lang, n)
		}
		if !strings.Contains(stdhtml.UnescapeString(body), "<h1 id=\"cp-title\">"+tt.want+"</h1>") {
			t.Errorf("%s: title %q missing:\n%s", tt.lang, tt.want, body)
		}
	}
	// Signed out: a heading, and "Войти" (the verb) as the way on.
	r := httptest.NewRequest(http.MethodGet, "/2fa?lang=ru", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.String()
	if rec.Code != http.StatusUnauthorized || !strings.Contains(body, "<h1") || strings.Count(body, "cp-card") != 1 ||
		strings.Contains(body, "cp-button") || !strings.Contains(body, `class="cp-btn cp-btn-primary" href="https://app.example/login?return_to=`) ||
		!strings.Contains(body, ">Войти</a>") {
		t.Errorf("sign-in-first page: %d\n%s", rec.Code, body)
	}
}

// deadFactor is pageFactor whose challenge's code no longer works.
type deadFactor struct {
	pageFactor
	state string
}

func (d *deadFactor) StepUpGet(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	v := d.view()
	v.State = d.state
	return v, nil
}

// StepUpFollow: the page reads its challenge through it.
func (d *deadFactor) StepUpFollow(ctx context.Context, c factor.Creds, id string) (factor.ChallengeView, error) {
	return d.StepUpGet(ctx, c, id)
}

// TestStepUpPageDeadChallenge: a /2fa link, reload or language switch for
// a challenge whose code no longer works says so (a verified one: that it
// is confirmed) and offers no code field, whatever refusal its query
// carries from before.
func TestStepUpPageDeadChallenge(t *testing.T) {
	tests := []struct {
		state, query, want string
	}{
		{"expired", "", "expired"},
		{"expired", "&error=4090001", "expired"},
		{"locked", "", "Too many wrong codes"},
		{"verified", "&error=4090011", "Confirmed."}, // the page a right code lands on
	}
	for _, tt := range tests {
		h := newPageServer(t, &deadFactor{pageFactor: pageFactor{recorder: &recorder{}}, state: tt.state})
		rec := pageDo(h, http.MethodGet, "/2fa?lang=en&challenge=c1"+tt.query, nil, "")
		body := rec.Body.String()
		text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
		if rec.Code != http.StatusOK || strings.Contains(body, `id="cp-code"`) || !strings.Contains(text, tt.want) ||
			strings.Contains(text, "We are calling") || strings.Contains(text, "attempts left") {
			t.Errorf("%s%s: %d, want %q and no code field:\n%s", tt.state, tt.query, rec.Code, tt.want, text)
		}
	}
}

// TestStepUpPagePhoneMessages: step-up cannot change the account's number,
// so a missing or invalid one says where to go (settings, support), never
// "check the number".
func TestStepUpPagePhoneMessages(t *testing.T) {
	_, perr := phone.Parse("+380501234567")
	for _, err := range []error{factor.ErrNoPhone, fmt.Errorf("%w: %w", factor.ErrNoPhone, perr)} {
		f := &pageFactor{recorder: &recorder{}, startErr: err}
		h := newPageServer(t, f)
		rec := pageDo(h, http.MethodPost, "/2fa?lang=en", url.Values{}, "https://app.example")
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusSeeOther || !strings.Contains(loc, "error=4090007") {
			t.Fatalf("%v: %d Location %q, want 303 with 4090007", err, rec.Code, loc)
		}
		rec = pageDo(h, http.MethodGet, loc, nil, "")
		text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(rec.Body.String(), ""))
		if !strings.Contains(text, "Confirming by phone needs a phone number on your account") || strings.Contains(text, "Check the number") {
			t.Errorf("%v: page text:\n%s", err, text)
		}
	}
}
