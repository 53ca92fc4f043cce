package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestStepUpPageTwoTabsInBrowser drives /2fa in two Chromium tabs of one
// session against the real service and Kratos. Tab A asks for a call; tab
// B, opened on the same page, asks for a new one, which replaces A's
// challenge. A's "call me again" then shows the wait for B's call with its
// code field (not "the code has expired" over a dead challenge), and the
// newest call's code typed in A confirms the step-up. Two calls, no more.
func TestStepUpPageTwoTabsInBrowser(t *testing.T) {
	// The first new call after a second, the next after an hour.
	st := startStack(t, stackOptions{Env: []string{"CHALLENGE_RESEND_COOLDOWNS=1s,1h"}})
	svc := st.Services[0].URL
	const email, dn = "tabs@example.com", "79009990053"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	before := simRequests(t, svc, dn)
	// Every request of a tab carries the session token, as an app's web
	// view sends it.
	withToken := func(p *page) {
		p.do("session token header", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
				return chromedp.Void{}, err
			}
			_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders,
				network.SetExtraHTTPHeadersParams{Headers: network.Headers{"X-Session-Token": tok}})
			return chromedp.Void{}, err
		})
	}
	resendUsable := func(p *page) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if !eval[bool](p, `document.querySelector("[data-cp-resend]").disabled`) {
				return
			}
		}
		t.Fatalf("%s: the new-call button stays disabled", p.name)
	}
	challengeID := func(p *page) string {
		return eval[string](p, `document.querySelector("input[name=challenge_id]").value`)
	}

	a := newPage(t, newBrowser(t, "en"), "stepup-tab-a")
	withToken(a)
	a.navigate("open /2fa", chromedp.Navigate(svc+"/2fa?lang=en"))
	a.navigate("call me", chromedp.Click(chromedp.CSS("form button[type=submit]")))
	a.waitText("We are calling")
	idA := challengeID(a)

	b := a.sibling("stepup-tab-b")
	withToken(b)
	b.navigate("open tab A's page", chromedp.Navigate(a.url()))
	resendUsable(b)
	b.navigate("call me again in tab B", chromedp.Click(chromedp.CSS("[data-cp-resend]")))
	b.waitText("We are calling")
	idB := challengeID(b)
	if idB == idA {
		t.Fatal("tab B's new call kept tab A's challenge")
	}

	resendUsable(a)
	a.navigate("call me again in tab A", chromedp.Click(chromedp.CSS("[data-cp-resend]")))
	a.waitText("You can ask for a new call in")
	a.shot("tab-a-cooldown")
	if body := eval[string](a, `document.body.innerText`); strings.Contains(body, "expired") {
		t.Fatalf("tab A says the code expired while tab B's call is on:\n%s", body)
	}
	if got := challengeID(a); got != idB {
		t.Fatalf("tab A's form names challenge %s, want the session's current %s", got, idB)
	}
	a.navigate("type the newest call's code in tab A", chromedp.SendKeys(chromedp.CSS("#cp-code"), lastCode(t, svc, dn)))
	a.waitText("Confirmed")
	a.shot("tab-a-confirmed")
	if n := simRequests(t, svc, dn); n != before+2 {
		t.Fatalf("%d calls placed for the step-up, want 2", n-before)
	}
}
