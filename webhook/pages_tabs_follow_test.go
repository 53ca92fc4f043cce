package webhook_test

import (
	"encoding/json"
	stdhtml "html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// twoTabs is /2fa in tabs A and B of one session: A's "call me" placed
// challenge a; B's "call me again" replaced it with b.
type twoTabs struct {
	h        http.Handler
	prov     *tabsProvider
	sessions *oneSession
	a, b     string
}

func openTwoTabs(t *testing.T) twoTabs {
	t.Helper()
	prov := &tabsProvider{}
	f, sessions := newTabsFactorSessions(t, prov)
	h := newPageServer(t, f)
	idOf := func(rec interface{ Header() http.Header }) string {
		t.Helper()
		loc, err := url.Parse(rec.Header().Get("Location"))
		if err != nil || loc.Path != "/2fa" || loc.Query().Get("challenge") == "" {
			t.Fatalf("Location %q", rec.Header().Get("Location"))
		}
		return loc.Query().Get("challenge")
	}
	a := idOf(pageDo(h, http.MethodPost, "/2fa?lang=en", url.Values{}, "https://app.example"))
	time.Sleep(5 * time.Millisecond) // past the first resend's 1 ms cooldown
	b := idOf(pageDo(h, http.MethodPost, "/2fa/verify?lang=en", url.Values{"challenge_id": {a}, "resend": {"true"}}, "https://app.example"))
	if a == b || prov.calls != 2 {
		t.Fatalf("tab B's new call: challenge %q (A's %q), %d calls", b, a, prov.calls)
	}
	return twoTabs{h: h, prov: prov, sessions: sessions, a: a, b: b}
}

func pageText(body string) string {
	return stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
}

// TestStepUpPageReloadFollowsTheSessionsChallenge: tab A, whose challenge
// B's "call me again" replaced, is reloaded (or switches language). It shows
// the session's current challenge, as a code posted from it is tried on
// that one: the code field naming the current call while it is pending,
// "Confirmed" once B confirmed it; never "the code has expired" over a
// session whose call is on or that has passed.
func TestStepUpPageReloadFollowsTheSessionsChallenge(t *testing.T) {
	tests := []struct {
		name      string
		lang      string
		confirmB  bool
		text      string // on A's reloaded page
		notText   string
		codeField bool
	}{
		{"current pending, English", "en", false, "Enter the last", "expired", true},
		{"current pending, Russian", "ru", false, "Введите", "истёк", true},
		{"current confirmed, English", "en", true, "Confirmed.", "expired", false},
		{"current confirmed, Russian", "ru", true, "Готово.", "истёк", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tabs := openTwoTabs(t)
			if tt.confirmB {
				rec := pageDo(tabs.h, http.MethodPost, "/2fa/verify?lang=en", url.Values{"challenge_id": {tabs.b}, "code": {"1002"}}, "https://app.example")
				if rec.Code != http.StatusSeeOther || strings.Contains(rec.Header().Get("Location"), "error=") {
					t.Fatalf("tab B's code: %d %q", rec.Code, rec.Header().Get("Location"))
				}
			}
			rec := pageDo(tabs.h, http.MethodGet, "/2fa?lang="+tt.lang+"&challenge="+url.QueryEscape(tabs.a), nil, "")
			body := rec.Body.String()
			text := pageText(body)
			if rec.Code != http.StatusOK || !strings.Contains(text, tt.text) || strings.Contains(text, tt.notText) {
				t.Fatalf("tab A reloaded: %d, want 200 with %q and without %q:\n%s", rec.Code, tt.text, tt.notText, text)
			}
			if got := strings.Contains(body, `id="cp-code"`); got != tt.codeField {
				t.Fatalf("code field offered = %v, want %v:\n%s", got, tt.codeField, text)
			}
			if tt.codeField && (!strings.Contains(body, `value="`+tabs.b+`"`) || strings.Contains(body, `value="`+tabs.a+`"`)) {
				t.Fatalf("tab A's form does not name the current challenge %s:\n%s", tabs.b, body)
			}
			if tabs.prov.calls != 2 {
				t.Fatalf("%d calls placed, want 2", tabs.prov.calls)
			}
		})
	}
}

// TestStepUpPageResendAfterReplacedAndConfirmed: B's "call me again"
// replaced A's challenge and B confirmed the new call. A's "call me again"
// (naming the replaced challenge) places no call: the session has passed,
// and A goes where a right code goes.
func TestStepUpPageResendAfterReplacedAndConfirmed(t *testing.T) {
	const rt = "https://app.example/orders"
	for _, tt := range []struct{ name, query, wantLoc string }{
		{"without return_to", "?lang=en", ""},
		{"with return_to", "?lang=en&return_to=" + url.QueryEscape(rt), rt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tabs := openTwoTabs(t)
			rec := pageDo(tabs.h, http.MethodPost, "/2fa/verify"+tt.query, url.Values{"challenge_id": {tabs.b}, "code": {"1002"}}, "https://app.example")
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("tab B's code: %d", rec.Code)
			}
			time.Sleep(5 * time.Millisecond)
			rec = pageDo(tabs.h, http.MethodPost, "/2fa/verify"+tt.query, url.Values{"challenge_id": {tabs.a}, "resend": {"true"}}, "https://app.example")
			if tabs.prov.calls != 2 {
				t.Fatalf("%d calls placed after the step-up was confirmed, want 2", tabs.prov.calls)
			}
			got := rec.Header().Get("Location")
			if rec.Code != http.StatusSeeOther || strings.Contains(got, "error=") || tt.wantLoc != "" && got != tt.wantLoc {
				t.Fatalf("tab A's resend: %d Location %q, want 303 to %q", rec.Code, got, tt.wantLoc)
			}
			if tt.wantLoc == "" {
				rec = pageDo(tabs.h, http.MethodGet, got, nil, "")
				if text := pageText(rec.Body.String()); rec.Code != http.StatusOK || !strings.Contains(text, "Confirmed.") {
					t.Fatalf("tab A's page: %d\n%s", rec.Code, text)
				}
			}
		})
	}
}

// TestStepUpPageResendReadsTheSessionOnce: "call me again" on /2fa naming
// a challenge asks Kratos's whoami once, as a "call me" does: the check for
// a confirmation and the new call share the session read.
func TestStepUpPageResendReadsTheSessionOnce(t *testing.T) {
	tests := []struct {
		name string
		form func(tabs twoTabs) url.Values
	}{
		{"naming the current challenge", func(tt twoTabs) url.Values {
			return url.Values{"challenge_id": {tt.b}, "resend": {"true"}}
		}},
		{"naming the replaced challenge", func(tt twoTabs) url.Values {
			return url.Values{"challenge_id": {tt.a}, "resend": {"true"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tabs := openTwoTabs(t)
			before := tabs.sessions.calls.Load()
			rec := pageDo(tabs.h, http.MethodPost, "/2fa/verify?lang=en", tt.form(tabs), "https://app.example")
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("resend: %d", rec.Code)
			}
			if n := tabs.sessions.calls.Load() - before; n != 1 {
				t.Fatalf("%d whoami calls for one \"call me again\", want 1", n)
			}
		})
	}
}

// TestStepUpPageAfterTheReplacedChallengeIsDropped: the store drops a
// replaced challenge a grace past its own expiry, while the call that
// replaced it is still on. Tab A, naming the dropped challenge, still
// follows the session's current one: a reload shows its code field (not
// "the code has expired"), and the current call's code typed there
// confirms the session, in English and Russian.
func TestStepUpPageAfterTheReplacedChallengeIsDropped(t *testing.T) {
	for _, tt := range []struct{ lang, notText string }{{"en", "expired"}, {"ru", "истёк"}} {
		t.Run(tt.lang, func(t *testing.T) {
			prov := &tabsProvider{}
			// A slow machine's time between the steps comes off the 950 ms
			// between A's drop and B's expiry (350 ms with a 1 s TTL).
			const ttl, grace = 2 * time.Second, 50 * time.Millisecond
			f, _ := newTabsFactorStore(t, prov, []memory.Option{memory.WithGrace(grace)},
				func(c *challenge.Config) { c.TTL = ttl })
			h := newPageServer(t, f)
			q := "?lang=" + tt.lang
			idOf := func(rec interface{ Header() http.Header }) string {
				t.Helper()
				loc, err := url.Parse(rec.Header().Get("Location"))
				if err != nil || loc.Path != "/2fa" || loc.Query().Get("challenge") == "" || loc.Query().Get("error") != "" {
					t.Fatalf("Location %q", rec.Header().Get("Location"))
				}
				return loc.Query().Get("challenge")
			}
			a := idOf(pageDo(h, http.MethodPost, "/2fa"+q, url.Values{}, "https://app.example"))
			aStarted := time.Now() // A started before this
			time.Sleep(ttl / 2)
			b := idOf(pageDo(h, http.MethodPost, "/2fa/verify"+q, url.Values{"challenge_id": {a}, "resend": {"true"}}, "https://app.example"))
			// A expired 2 s after its start and was dropped 50 ms later; B
			// is on until 2 s after its own, at least 1 s later.
			time.Sleep(time.Until(aStarted.Add(ttl + grace + 50*time.Millisecond)))
			rec := pageDo(h, http.MethodGet, "/2fa"+q+"&challenge="+url.QueryEscape(a), nil, "")
			body := rec.Body.String()
			if text := pageText(body); rec.Code != http.StatusOK || strings.Contains(text, tt.notText) ||
				!strings.Contains(body, `id="cp-code"`) || !strings.Contains(body, `value="`+b+`"`) {
				t.Fatalf("tab A reloaded: %d, want the code field naming %s:\n%s", rec.Code, b, text)
			}
			rec = pageDo(h, http.MethodPost, "/2fa/verify"+q, url.Values{"challenge_id": {a}, "code": {"1002"}}, "https://app.example")
			if got := idOf(rec); got != b {
				t.Fatalf("tab A's code leads to challenge %q, want %q", got, b)
			}
			rec = pageDo(h, http.MethodGet, rec.Header().Get("Location"), nil, "")
			want := map[string]string{"en": "Confirmed.", "ru": "Готово."}[tt.lang]
			if text := pageText(rec.Body.String()); rec.Code != http.StatusOK || !strings.Contains(text, want) {
				t.Fatalf("tab A's page after the code: %d, want %q:\n%s", rec.Code, want, text)
			}
			if prov.calls != 2 {
				t.Fatalf("%d calls placed, want 2", prov.calls)
			}
		})
	}
}

// TestChallengeStatusFollows: GET /v1/challenges/{id} reads {id} alone, as
// before; with follow=true it answers the session's current challenge, as
// /2fa?challenge={id} shows it: tab A's status poll, whose challenge B's
// "call me again" replaced, learns about B's call instead of stopping at
// "superseded". It reads nothing the session could not already read: no
// session is 401 and an id of no challenge of this identity 404, as
// without follow. Any other value of follow is refused.
func TestChallengeStatusFollows(t *testing.T) {
	tabs := openTwoTabs(t)
	type view struct {
		ID    string `json:"challenge_id"`
		State string `json:"state"`
		Call  string `json:"call_status"`
	}
	tests := []struct {
		name, path string
		noSession  bool
		status     int
		id, state  func(twoTabs) string // want, when 200
	}{
		{"replaced, read alone", "/v1/challenges/{a}", false, http.StatusOK,
			func(tt twoTabs) string { return tt.a }, func(twoTabs) string { return "superseded" }},
		{"replaced, follow=false", "/v1/challenges/{a}?follow=false", false, http.StatusOK,
			func(tt twoTabs) string { return tt.a }, func(twoTabs) string { return "superseded" }},
		{"replaced, followed", "/v1/challenges/{a}?follow=true", false, http.StatusOK,
			func(tt twoTabs) string { return tt.b }, func(twoTabs) string { return "pending" }},
		{"current, followed", "/v1/challenges/{b}?follow=true", false, http.StatusOK,
			func(tt twoTabs) string { return tt.b }, func(twoTabs) string { return "pending" }},
		{"no session", "/v1/challenges/{a}?follow=true", true, http.StatusUnauthorized, nil, nil},
		{"not this identity's", "/v1/challenges/nope?follow=true", false, http.StatusNotFound, nil, nil},
		{"follow=1", "/v1/challenges/{a}?follow=1", false, http.StatusBadRequest, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := strings.NewReplacer("{a}", url.PathEscape(tabs.a), "{b}", url.PathEscape(tabs.b)).Replace(tt.path)
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if !tt.noSession {
				req.Header.Set("Cookie", "ory_kratos_session=x")
			}
			rec := httptest.NewRecorder()
			tabs.h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("%s: %d %s, want %d", path, rec.Code, rec.Body, tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			var v view
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			if v.ID != tt.id(tabs) || v.State != tt.state(tabs) || v.Call != "rang" {
				t.Fatalf("%s: %+v, want %s %s (a %s, b %s)", path, v, tt.id(tabs), tt.state(tabs), tabs.a, tabs.b)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
	if tabs.prov.calls != 2 {
		t.Fatalf("%d calls placed, want 2", tabs.prov.calls)
	}
}
