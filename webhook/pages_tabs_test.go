package webhook_test

import (
	"context"
	"fmt"
	stdhtml "html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// tabsProvider places calls whose codes are 1001, 1002, … (one per call).
type tabsProvider struct {
	mu    sync.Mutex
	calls int
}

func (p *tabsProvider) Name() string { return "tabs" }
func (p *tabsProvider) StartCall(context.Context, phone.Number) (flashcall.Call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return flashcall.Call{ID: fmt.Sprint("call-", p.calls), Code: fmt.Sprint(1000 + p.calls), Status: flashcall.Classify("NORMAL_CLEARING")}, nil
}
func (p *tabsProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NORMAL_CLEARING"), nil
}

// oneSession answers whoami with one active session, whatever the cookie,
// and counts the whoamis.
type oneSession struct {
	s     kratos.Session
	calls atomic.Int64
}

func (o *oneSession) Session(context.Context, string, string) (*kratos.Session, error) {
	o.calls.Add(1)
	s := o.s
	return &s, nil
}

// newTabsFactor is the real factor over the real challenge service and
// memory store; the first resend is allowed at once, the next after an hour.
func newTabsFactor(t *testing.T, prov challenge.Provider, opts ...func(*challenge.Config)) *factor.Service {
	t.Helper()
	f, _ := newTabsFactorSessions(t, prov, opts...)
	return f
}

// newTabsFactorSessions is newTabsFactor that also returns its whoami.
func newTabsFactorSessions(t *testing.T, prov challenge.Provider, opts ...func(*challenge.Config)) (*factor.Service, *oneSession) {
	t.Helper()
	return newTabsFactorStore(t, prov, nil, opts...)
}

// newTabsFactorStore is newTabsFactorSessions over a memory store with mem.
func newTabsFactorStore(t *testing.T, prov challenge.Provider, mem []memory.Option, opts ...func(*challenge.Config)) (*factor.Service, *oneSession) {
	t.Helper()
	now := time.Now()
	sessions := &oneSession{s: kratos.Session{ID: "sess-1", IdentityID: "ident-1", Active: true,
		AuthenticatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Traits: map[string]any{"phone": "+79001112233"}}}
	cooldowns := func(cfg *challenge.Config) { cfg.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour} }
	return newMemFactor(t, prov, mem, nil, sessions, append([]func(*challenge.Config){cooldowns}, opts...)...), sessions
}

// newMemFactor is the real factor over the real challenge service and a
// memory store with mem, calling through prov, its limits the defaults
// changed by limits, its sessions read from sessions and its tokens signed
// by an ES256 issuer for https://cp.example and the audience "app".
func newMemFactor(t *testing.T, prov challenge.Provider, mem []memory.Option, limits func(*limit.Config),
	sessions factor.Sessions, opts ...func(*challenge.Config)) *factor.Service {
	t.Helper()
	store := memory.New(time.Hour, mem...)
	t.Cleanup(func() { _ = store.Close() })
	lcfg := limit.DefaultConfig()
	if limits != nil {
		limits(&lcfg)
	}
	lim, err := limit.New(lcfg, store, store, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = []byte("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk")
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := challenge.NewService(cfg, store, prov, lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	key, err := jwt.GenerateKey(jwt.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := jwt.NewKeySet([]*jwt.Key{key}, "")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := jwt.NewIssuer(jwt.IssuerConfig{Issuer: "https://cp.example", Audience: []string{"app"}, Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	f, err := factor.New(factor.Config{}, factor.Deps{Numbers: phonetest.Hasher(), Challenges: svc, Passes: store,
		Sessions: sessions, Issuer: iss})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStepUpPageTwoTabs: /2fa open in tabs A and B of one session; "call me
// again" in B replaces A's challenge (a session has one at a time). Tab A,
// still showing the replaced challenge, follows the session's current one:
// the newest call's code confirms, a wrong code is shown on the current
// challenge with its attempts, and A's own "call me again" shows the
// current call's cooldown with its code field, never "the code has expired"
// over a call that is still on.
func TestStepUpPageTwoTabs(t *testing.T) {
	tests := []struct {
		name   string
		form   func(idA string) url.Values // tab A's post, to /2fa/verify
		status int                         // of the GET page it leads to
		text   string                      // on that page
		code   bool                        // the page offers the code field
	}{
		{"the newest call's code", func(id string) url.Values { return url.Values{"challenge_id": {id}, "code": {"1002"}} },
			http.StatusOK, "Confirmed.", false},
		{"a wrong code", func(id string) url.Values { return url.Values{"challenge_id": {id}, "code": {"9999"}} },
			http.StatusOK, "Wrong code. 2 attempts left.", true},
		{"call me again", func(id string) url.Values { return url.Values{"challenge_id": {id}, "resend": {"true"}} },
			http.StatusOK, "You can ask for a new call in", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := &tabsProvider{}
			h := newPageServer(t, newTabsFactor(t, prov))
			idOf := func(rec interface{ Header() http.Header }) string {
				t.Helper()
				loc, err := url.Parse(rec.Header().Get("Location"))
				if err != nil || loc.Path != "/2fa" {
					t.Fatalf("Location %q", rec.Header().Get("Location"))
				}
				return loc.Query().Get("challenge")
			}
			// Tab A: "call me".
			rec := pageDo(h, http.MethodPost, "/2fa?lang=en", url.Values{}, "https://app.example")
			idA := idOf(rec)
			time.Sleep(5 * time.Millisecond)
			// Tab B, opened on the same challenge: "call me again".
			rec = pageDo(h, http.MethodPost, "/2fa/verify?lang=en", url.Values{"challenge_id": {idA}, "resend": {"true"}}, "https://app.example")
			idB := idOf(rec)
			if idB == "" || idB == idA || prov.calls != 2 {
				t.Fatalf("tab B's new call: challenge %q (A's %q), %d calls", idB, idA, prov.calls)
			}
			// Tab A posts its form, naming the replaced challenge.
			rec = pageDo(h, http.MethodPost, "/2fa/verify?lang=en", tt.form(idA), "https://app.example")
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("tab A's post: %d\n%s", rec.Code, rec.Body)
			}
			if got := idOf(rec); got != idB {
				t.Fatalf("tab A's post leads to challenge %q, want the session's current %q", got, idB)
			}
			rec = pageDo(h, http.MethodGet, rec.Header().Get("Location"), nil, "")
			body := rec.Body.String()
			text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
			if rec.Code != tt.status || !strings.Contains(text, tt.text) || strings.Contains(text, "expired") {
				t.Fatalf("tab A's page: %d, want %d with %q and no expiry:\n%s", rec.Code, tt.status, tt.text, text)
			}
			if got := strings.Contains(body, `id="cp-code"`); got != tt.code {
				t.Fatalf("code field offered = %v, want %v", got, tt.code)
			}
			if tt.code && !strings.Contains(body, `value="`+idB+`"`) {
				t.Fatalf("tab A's form does not name the current challenge %s:\n%s", idB, body)
			}
			if prov.calls != 2 {
				t.Fatalf("%d calls placed, want 2", prov.calls)
			}
		})
	}
}

// TestStepUpPageResendAfterConfirmed: tabs A and B show one challenge; B
// confirms it. A's "call me again" places no call (the session has passed
// the step-up; a new call would cost money and ask for a code nobody
// needs): it goes where a right code goes, return_to or the "Confirmed"
// page.
func TestStepUpPageResendAfterConfirmed(t *testing.T) {
	const rt = "https://app.example/orders"
	tests := []struct {
		name, query, wantLoc string
	}{
		{"without return_to", "?lang=en", ""},
		{"with return_to", "?lang=en&return_to=" + url.QueryEscape(rt), rt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := &tabsProvider{}
			h := newPageServer(t, newTabsFactor(t, prov))
			rec := pageDo(h, http.MethodPost, "/2fa"+tt.query, url.Values{}, "https://app.example")
			loc, _ := url.Parse(rec.Header().Get("Location"))
			id := loc.Query().Get("challenge")
			// Tab B types the code.
			rec = pageDo(h, http.MethodPost, "/2fa/verify"+tt.query, url.Values{"challenge_id": {id}, "code": {"1001"}}, "https://app.example")
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("tab B's code: %d", rec.Code)
			}
			// Tab A asks for a new call.
			rec = pageDo(h, http.MethodPost, "/2fa/verify"+tt.query, url.Values{"challenge_id": {id}, "resend": {"true"}}, "https://app.example")
			if prov.calls != 1 {
				t.Fatalf("%d calls placed after the step-up was confirmed, want 1", prov.calls)
			}
			got := rec.Header().Get("Location")
			if rec.Code != http.StatusSeeOther || tt.wantLoc != "" && got != tt.wantLoc {
				t.Fatalf("tab A's resend: %d Location %q, want 303 to %q", rec.Code, got, tt.wantLoc)
			}
			if tt.wantLoc == "" {
				rec = pageDo(h, http.MethodGet, got, nil, "")
				text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(rec.Body.String(), ""))
				if rec.Code != http.StatusOK || !strings.Contains(text, "Confirmed.") {
					t.Fatalf("tab A's page: %d\n%s", rec.Code, text)
				}
			}
		})
	}
}

// TestStepUpPageCodeAfterConfirmedElsewhere: tabs A and B show one
// challenge; B confirms it, then A's user types the same code. The session
// has passed: A goes where a right code goes (return_to, or "Confirmed"),
// not to a refusal.
func TestStepUpPageCodeAfterConfirmedElsewhere(t *testing.T) {
	const rt = "https://app.example/orders"
	for _, tt := range []struct{ name, query, wantLoc string }{
		{"without return_to", "?lang=en", ""},
		{"with return_to", "?lang=en&return_to=" + url.QueryEscape(rt), rt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newPageServer(t, newTabsFactor(t, &tabsProvider{}))
			rec := pageDo(h, http.MethodPost, "/2fa"+tt.query, url.Values{}, "https://app.example")
			loc, _ := url.Parse(rec.Header().Get("Location"))
			id := loc.Query().Get("challenge")
			form := url.Values{"challenge_id": {id}, "code": {"1001"}}
			if rec = pageDo(h, http.MethodPost, "/2fa/verify"+tt.query, form, "https://app.example"); rec.Code != http.StatusSeeOther {
				t.Fatalf("tab B's code: %d", rec.Code)
			}
			rec = pageDo(h, http.MethodPost, "/2fa/verify"+tt.query, form, "https://app.example")
			got := rec.Header().Get("Location")
			if rec.Code != http.StatusSeeOther || tt.wantLoc != "" && got != tt.wantLoc || strings.Contains(got, "error=") {
				t.Fatalf("tab A's code: %d Location %q, want 303 to %q", rec.Code, got, tt.wantLoc)
			}
			if tt.wantLoc == "" {
				rec = pageDo(h, http.MethodGet, got, nil, "")
				text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(rec.Body.String(), ""))
				if rec.Code != http.StatusOK || !strings.Contains(text, "Confirmed.") {
					t.Fatalf("tab A's page: %d\n%s", rec.Code, text)
				}
			}
		})
	}
}

// TestStepUpPageConfirmedLinksBackToTheApp: the "Confirmed" page (a reload
// after the right code, the back button from return_to, another tab's
// confirmation) offers the way back to an allowed return_to, as the right
// code's redirect does; a return_to on another origin gets no link.
func TestStepUpPageConfirmedLinksBackToTheApp(t *testing.T) {
	const rt = "https://app.example/orders?id=7"
	for _, tt := range []struct {
		name, returnTo string
		link           bool
	}{
		{"allowed return_to", rt, true},
		{"return_to elsewhere", "https://evil.example/x", false},
		{"no return_to", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newPageServer(t, newTabsFactor(t, &tabsProvider{}))
			q := "?lang=en"
			if tt.returnTo != "" {
				q += "&return_to=" + url.QueryEscape(tt.returnTo)
			}
			rec := pageDo(h, http.MethodPost, "/2fa"+q, url.Values{}, "https://app.example")
			loc, _ := url.Parse(rec.Header().Get("Location"))
			id := loc.Query().Get("challenge")
			if rec = pageDo(h, http.MethodPost, "/2fa/verify"+q, url.Values{"challenge_id": {id}, "code": {"1001"}}, "https://app.example"); rec.Code != http.StatusSeeOther {
				t.Fatalf("right code: %d", rec.Code)
			}
			// The challenge's page, as a reload or the back button shows it.
			rec = pageDo(h, http.MethodGet, "/2fa"+q+"&challenge="+url.QueryEscape(id), nil, "")
			body := stdhtml.UnescapeString(rec.Body.String())
			if rec.Code != http.StatusOK || !strings.Contains(body, "Confirmed.") {
				t.Fatalf("confirmed page: %d\n%s", rec.Code, body)
			}
			hasLink := strings.Contains(body, `href="`+rt+`"`) && strings.Contains(body, "Open the app")
			if hasLink != tt.link || strings.Contains(body, "evil.example/x\"") {
				t.Fatalf("link back to %q = %v, want %v:\n%s", tt.returnTo, hasLink, tt.link, body)
			}
		})
	}
}

// TestStepUpPageResendAfterAnOldConfirmation: a tab left on a challenge
// confirmed long ago (past its code's lifetime: an app asking for a fresh
// step-up) gets the new call its "call me again" asks for; only a
// confirmation within the code's lifetime (another tab, just now) stands in
// for it.
func TestStepUpPageResendAfterAnOldConfirmation(t *testing.T) {
	prov := &tabsProvider{}
	// Codes live a second: the right code must come within it, however
	// slow the machine; the resend comes after it.
	h := newPageServer(t, newTabsFactor(t, prov, func(c *challenge.Config) { c.TTL = time.Second }))
	rec := pageDo(h, http.MethodPost, "/2fa?lang=en", url.Values{}, "https://app.example")
	loc, _ := url.Parse(rec.Header().Get("Location"))
	id := loc.Query().Get("challenge")
	if rec = pageDo(h, http.MethodPost, "/2fa/verify?lang=en", url.Values{"challenge_id": {id}, "code": {"1001"}}, "https://app.example"); rec.Code != http.StatusSeeOther {
		t.Fatalf("right code: %d", rec.Code)
	}
	time.Sleep(1100 * time.Millisecond) // past the code's lifetime
	rec = pageDo(h, http.MethodPost, "/2fa/verify?lang=en", url.Values{"challenge_id": {id}, "resend": {"true"}}, "https://app.example")
	loc, _ = url.Parse(rec.Header().Get("Location"))
	if prov.calls != 2 || loc == nil || loc.Query().Get("challenge") == id || loc.Query().Get("challenge") == "" {
		t.Fatalf("call me again after an old confirmation: %d calls, Location %q; want a new call and its challenge", prov.calls, rec.Header().Get("Location"))
	}
}
