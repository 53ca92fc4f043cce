package main

import (
	stdhtml "html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A second sign-in within the first pending cookie's lifetime gets the
// cookie rewritten with a full TTL: a code step started 8 minutes after the
// first flow must not lose it 2 minutes in ("Your sign-in took too long").
func TestPendingCookieRefreshedForANewFlow(t *testing.T) {
	hs := newHarness(t)
	uiLogin := "http://127.0.0.1:4455/login?flow=" + loginFlowID
	hs.fake.submitReply = func(w http.ResponseWriter, _ url.Values) {
		w.Header().Set("Location", uiLogin)
		w.WriteHeader(http.StatusSeeOther)
	}
	creds := url.Values{"csrf_token": {"t"}, "identifier": {"a@b.c"}, "password": {secret}, "method": {"password"}}
	rec := hs.do(http.MethodPost, "/login/submit?flow="+loginFlowID, creds)
	first := cookieNamed(rec, pendingCookie)
	if first == nil || first.MaxAge != 600 {
		t.Fatalf("first pending cookie: %+v", first)
	}
	// The first sign-in ends (the password is forgotten); 8 minutes later
	// the same browser signs in again, sending the cookie it still has.
	hs.s.pending.delete(loginFlowID, first.Value)
	hs.now = hs.now.Add(8 * time.Minute)
	rec = hs.do(http.MethodPost, "/login/submit?flow="+loginFlowID, creds, first)
	again := cookieNamed(rec, pendingCookie)
	if again == nil || again.Value != first.Value || again.MaxAge != 600 || !again.HttpOnly || again.SameSite != http.SameSiteLaxMode {
		t.Fatalf("pending cookie not refreshed for the new flow: %+v", again)
	}
	// 5 minutes into the new code step: the browser still has the cookie
	// (it was refreshed 5 minutes ago), the step still renders.
	hs.now = hs.now.Add(5 * time.Minute)
	hs.fake.loginFixture = "testdata/login_flow_callpass.json"
	body := hs.do(http.MethodGet, "/login?flow="+loginFlowID, nil, again).Body.String()
	if !strings.Contains(body, `id="cp-code"`) || strings.Contains(body, "took too long") {
		t.Errorf("code step lost 13 minutes after the first cookie:\n%s", body)
	}
	// A code post does not need to rewrite it.
	rec = hs.do(http.MethodPost, "/login/submit?flow="+loginFlowID, url.Values{"csrf_token": {"t"}, "callpass_code": {"4610"}}, again)
	if c := cookieNamed(rec, pendingCookie); c != nil {
		t.Errorf("code post rewrote the pending cookie: %+v", c)
	}
}

// The language switch on a page rendered in answer to POST /login/submit
// (an error) links to the flow's GET page, not to the POST-only relay.
func TestLangLinksOnAPostErrorPage(t *testing.T) {
	hs := newHarness(t)
	hs.fake.submitReply = func(w http.ResponseWriter, _ url.Values) {
		w.WriteHeader(http.StatusInternalServerError)
	}
	rec := hs.do(http.MethodPost, "/login/submit?flow="+loginFlowID+"&lang=ru",
		url.Values{"csrf_token": {"t"}, "identifier": {"a@b.c"}, "password": {secret}, "method": {"password"}})
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	hrefs := regexp.MustCompile(`<a href="([^"]*)" hreflang="(en|ru)"`).FindAllStringSubmatch(body, -1)
	if len(hrefs) != 1 || hrefs[0][2] != "en" {
		t.Fatalf("language links %v in\n%s", hrefs, body)
	}
	link := stdhtml.UnescapeString(hrefs[0][1])
	if link != "/login?flow="+loginFlowID+"&lang=en" {
		t.Errorf("switch link %q, want the flow's page", link)
	}
	// The link is a GET route (renders the flow; never 405).
	hs.fake.loginFixture = "testdata/login_flow.json"
	if rec := hs.do(http.MethodGet, link, nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `<html lang="en">`) {
		t.Errorf("GET %s: %d", link, rec.Code)
	}
	// Other POSTs render no switcher rather than a link to a POST route.
	r := httptestRequest(http.MethodPost, "/elsewhere")
	if got := langLinks(r, "en"); got != nil {
		t.Errorf("langLinks for POST /elsewhere = %v", got)
	}
}

func httptestRequest(method, target string) *http.Request {
	r, _ := http.NewRequest(method, target, nil)
	return r
}

// /logout clears the app token even when Kratos has no session to end.
func TestLogoutClearsJWTWithoutSession(t *testing.T) {
	hs := newHarness(t)
	for _, tc := range []struct {
		name    string
		cookies []*http.Cookie
		want    string
	}{
		{"no session", []*http.Cookie{{Name: "callpass_jwt", Value: "old"}}, "/login"},
		{"session", []*http.Cookie{{Name: "callpass_jwt", Value: "old"}, {Name: "ory_kratos_session", Value: "s"}},
			"http://127.0.0.1:4433/self-service/logout?token=t1"},
	} {
		rec := hs.do(http.MethodGet, "/logout", nil, tc.cookies...)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tc.want {
			t.Errorf("%s: %d %q, want %q", tc.name, rec.Code, rec.Header().Get("Location"), tc.want)
		}
		if c := cookieNamed(rec, "callpass_jwt"); c == nil || c.MaxAge >= 0 || c.Value != "" || c.Path != "/" {
			t.Errorf("%s: callpass_jwt not cleared: %+v", tc.name, c)
		}
	}
}

// "Sign in with another account" and a flow restarted after it expired
// keep the flow's return_to.
func TestRestartedFlowsKeepReturnTo(t *testing.T) {
	const rt = "http://127.0.0.1:4455/settings"
	wantInit := "http://127.0.0.1:4433/self-service/login/browser?return_to=" + url.QueryEscape(rt)

	hs := newHarness(t)
	hs.fake.returnTo = rt
	rec := hs.passwordSubmit()
	pend := cookieNamed(rec, pendingCookie)
	hs.fake.loginFixture = "testdata/login_flow_callpass.json"
	body := hs.do(http.MethodGet, "/login?flow="+loginFlowID, nil, pend).Body.String()
	m := regexp.MustCompile(`<a href="([^"]*)">Sign in with another account</a>`).FindStringSubmatch(body)
	if m == nil || stdhtml.UnescapeString(m[1]) != wantInit {
		t.Errorf("start-over link %v, want %s", m, wantInit)
	}

	// Kratos answers 410 for an expired browser flow, naming its return_to.
	hs.fake.flowStatus = http.StatusGone
	hs.fake.flowBody = `{"error":{"id":"self_service_flow_expired","code":410,"status":"Gone","reason":"The login flow has expired.",` +
		`"details":{"redirect_to":"http://127.0.0.1:4433/self-service/login/browser?return_to=` + url.QueryEscape(rt) + `","return_to":"` + rt + `"},"message":"expired"}}`
	rec = hs.do(http.MethodGet, "/login?flow="+loginFlowID, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != wantInit {
		t.Errorf("expired flow: %d %q, want %s", rec.Code, rec.Header().Get("Location"), wantInit)
	}
	// Without details (an older Kratos) the new flow has no return_to.
	hs.fake.flowBody = `{"error":{"code":410}}`
	rec = hs.do(http.MethodGet, "/login?flow="+loginFlowID, nil)
	if rec.Header().Get("Location") != "http://127.0.0.1:4433/self-service/login/browser" {
		t.Errorf("expired flow without details: %q", rec.Header().Get("Location"))
	}
}

// Right after registration the session has not passed the call gate: the
// welcome page says so as a next step (not an error) and offers the
// refresh login that gets the app token; /login would only bounce back.
func TestWelcomeOffersTheGateLogin(t *testing.T) {
	hs := newHarness(t)
	hs.fake.tokenStatus, hs.fake.tokenError = http.StatusForbidden, "forbidden"
	for lang, want := range map[string][]string{
		"en": {"Your account is ready.", "Confirm with your password and a call"},
		"ru": {"Учётная запись готова.", "Подтвердить паролем и звонком"},
	} {
		rec := hs.do(http.MethodGet, "/welcome?lang="+lang, nil, &http.Cookie{Name: "ory_kratos_session", Value: "s"})
		body := stdhtml.UnescapeString(rec.Body.String())
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", lang, rec.Code)
		}
		for _, w := range append(want, `<a class="cp-btn cp-btn-primary" href="http://127.0.0.1:4433/self-service/login/browser?refresh=true">`) {
			if !strings.Contains(body, w) {
				t.Errorf("%s: %q missing in\n%s", lang, w, body)
			}
		}
		if strings.Contains(body, "cp-msg-error") || strings.Contains(body, "(forbidden)") {
			t.Errorf("%s: the gate step is shown as an error:\n%s", lang, body)
		}
	}
}
