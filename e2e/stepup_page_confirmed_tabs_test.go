package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestStepUpPageCallAgainAfterAnotherTabConfirmed drives /2fa in two
// Chromium tabs of one session against the real service and Kratos. Tab
// B's new call replaces tab A's challenge, and B confirms the step-up with
// that call's code. Tab A, still showing its replaced challenge, then
// presses "call me again": the session has passed, so A says "Confirmed"
// and no third call is placed; a reload of A says "Confirmed" too.
func TestStepUpPageCallAgainAfterAnotherTabConfirmed(t *testing.T) {
	st := startStack(t, stackOptions{Env: []string{"CHALLENGE_RESEND_COOLDOWNS=1s,1h"}})
	svc := st.Services[0].URL
	const email, dn = "tabs-confirmed@example.com", "79009990054"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	before := simRequests(t, svc, dn)
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

	a := newPage(t, newBrowser(t, "en"), "confirmed-tab-a")
	withToken(a)
	a.navigate("open /2fa", chromedp.Navigate(svc+"/2fa?lang=en"))
	a.navigate("call me", chromedp.Click(chromedp.CSS("form button[type=submit]")))
	a.waitText("We are calling")
	idA := challengeID(a)

	b := a.sibling("confirmed-tab-b")
	withToken(b)
	b.navigate("open tab A's page", chromedp.Navigate(a.url()))
	resendUsable(b)
	b.navigate("call me again in tab B", chromedp.Click(chromedp.CSS("[data-cp-resend]")))
	b.waitText("We are calling")
	if challengeID(b) == idA {
		t.Fatal("tab B's new call kept tab A's challenge")
	}
	b.navigate("type the new call's code in tab B", chromedp.SendKeys(chromedp.CSS("#cp-code"), lastCode(t, svc, dn)))
	b.waitText("Confirmed")

	resendUsable(a)
	a.navigate("call me again in tab A", chromedp.Click(chromedp.CSS("[data-cp-resend]")))
	a.waitText("Confirmed")
	a.shot("tab-a-confirmed-by-b")
	a.navigate("reload tab A", chromedp.Reload())
	a.waitText("Confirmed")
	if n := simRequests(t, svc, dn); n != before+2 {
		t.Fatalf("%d calls placed for the step-up, want 2 (tab A's, tab B's)", n-before)
	}
}
