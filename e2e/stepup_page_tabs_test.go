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

// twoTabs is where the two-tab /2fa tests start from: one session of a new
// identity, tab A showing the call it asked for, and tab B, opened on A's
// page, showing the new call it asked for, which replaced A's challenge.
type twoTabs struct {
	svc, dn      string
	a, b         *page
	idA, idB     string
	callsBefore  int // the simulator's calls to dn before A's
	resendUsable func(p *page)
}

// startTwoTabs brings a stack whose first new call comes after a second
// (the next after an hour) to twoTabs, for the identity email with the
// number +dn; its tabs are named prefix-a and prefix-b.
func startTwoTabs(t *testing.T, email, dn, prefix string) twoTabs {
	t.Helper()
	st := startStack(t, stackOptions{Env: []string{"CHALLENGE_RESEND_COOLDOWNS=1s,1h"}})
	tt := twoTabs{svc: st.Services[0].URL, dn: dn}
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	tt.callsBefore = simRequests(t, tt.svc, dn)
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
	tt.resendUsable = func(p *page) {
		t.Helper()
		for deadline := time.Now().Add(guard); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if !eval[bool](p, `document.querySelector("[data-cp-resend]").disabled`) {
				return
			}
		}
		t.Fatalf("%s: the new-call button stays disabled", p.name)
	}

	tt.a = newPage(t, newBrowser(t, "en"), prefix+"-a")
	withToken(tt.a)
	tt.a.navigate("open /2fa", chromedp.Navigate(tt.svc+"/2fa?lang=en"))
	tt.a.navigate("call me", chromedp.Click(chromedp.CSS("form button[type=submit]")))
	tt.a.waitText("We are calling")
	tt.idA = challengeIDOn(tt.a)

	tt.b = tt.a.sibling(prefix + "-b")
	withToken(tt.b)
	tt.b.navigate("open tab A's page", chromedp.Navigate(tt.a.url()))
	tt.resendUsable(tt.b)
	tt.b.navigate("call me again in tab B", chromedp.Click(chromedp.CSS("[data-cp-resend]")))
	tt.b.waitText("We are calling")
	tt.idB = challengeIDOn(tt.b)
	if tt.idB == tt.idA {
		t.Fatal("tab B's new call kept tab A's challenge")
	}
	return tt
}

// challengeIDOn is the challenge a /2fa page's code form names.
func challengeIDOn(p *page) string {
	return eval[string](p, `document.querySelector("input[name=challenge_id]").value`)
}

// TestStepUpPageTwoTabsInBrowser drives /2fa in two Chromium tabs of one
// session against the real service and Kratos. Tab A asks for a call; tab
// B, opened on the same page, asks for a new one, which replaces A's
// challenge. A's "call me again" then shows the wait for B's call with its
// code field (not "the code has expired" over a dead challenge), and the
// newest call's code typed in A confirms the step-up. Two calls, no more.
func TestStepUpPageTwoTabsInBrowser(t *testing.T) {
	tt := startTwoTabs(t, "tabs@example.com", "79009990053", "stepup-tab")
	a := tt.a

	tt.resendUsable(a)
	a.navigate("call me again in tab A", chromedp.Click(chromedp.CSS("[data-cp-resend]")))
	a.waitText("You can ask for a new call in")
	a.shot("tab-a-cooldown")
	if body := eval[string](a, `document.body.innerText`); strings.Contains(body, "expired") {
		t.Fatalf("tab A says the code expired while tab B's call is on:\n%s", body)
	}
	if got := challengeIDOn(a); got != tt.idB {
		t.Fatalf("tab A's form names challenge %s, want the session's current %s", got, tt.idB)
	}
	a.navigate("type the newest call's code in tab A", typeCode(lastCode(t, tt.svc, tt.dn)))
	a.waitText("Confirmed")
	a.shot("tab-a-confirmed")
	if n := simRequests(t, tt.svc, tt.dn); n != tt.callsBefore+2 {
		t.Fatalf("%d calls placed for the step-up, want 2", n-tt.callsBefore)
	}
}
