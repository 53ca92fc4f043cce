package e2e_test

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestStepUpPageSaysWhenTheCallFails drives /2fa in Chromium against the
// real service and Kratos: the phone is unreachable, so while the user
// looks at the code step the page learns that the call did not reach the
// phone (the service's own status poll, then the page's), says so without
// a reload and offers a new call at once, before the 30 s wait between
// calls is over; pressing it places the new call.
func TestStepUpPageSaysWhenTheCallFails(t *testing.T) {
	st := startStack(t, stackOptions{})
	svc := st.Services[0].URL
	const email, dn = "zoya@example.com", "79009990033"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	setSimScript(t, svc, dn, "unreachable")
	before := simRequests(t, svc, dn)

	p := newPage(t, newBrowser(t, "en"), "stepup-call-failed")
	// Every request of this tab, the page's own status requests included,
	// carries the Kratos session token, as an app's web view sends it.
	p.do("session token header", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders,
			network.SetExtraHTTPHeadersParams{Headers: network.Headers{"X-Session-Token": tok}})
		return chromedp.Void{}, err
	})
	p.navigate("open /2fa", chromedp.Navigate(svc+"/2fa"))
	p.navigate("call me", chromedp.Click(chromedp.CSS("form button[type=submit]")))
	p.waitText("We are calling")
	if eval[bool](p, `document.querySelector("[data-cp-resend]").disabled`) != true {
		t.Fatal("the new-call button is usable before the wait between calls")
	}
	p.waitText("We could not reach your phone")
	p.shot("call-failed")
	if got := eval[string](p, `[String(document.querySelector("[data-cp-form]").hidden),
		String(document.querySelector("[data-cp-resend]").disabled)].join(" ")`); got != "true false" {
		t.Fatalf("code form hidden, button disabled: %q, want \"true false\"", got)
	}
	if n := simRequests(t, svc, dn); n != before+1 {
		t.Fatalf("%d start requests since the login, want 1", n-before)
	}
	p.navigate("call me again", chromedp.Click(chromedp.CSS("[data-cp-resend]")))
	p.waitText("We are calling")
	if n := simRequests(t, svc, dn); n != before+2 {
		t.Errorf("%d start requests since the login, want 2 (the new call placed at once)", n-before)
	}
}
