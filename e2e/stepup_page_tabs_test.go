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

// tabsOptions shape startTwoTabs.
type tabsOptions struct {
	// liveA: tab A asks the service about the flow's challenge as a page
	// does (its status poll, and as it comes back into view), and so may
	// follow B's call. Otherwise its status requests are blocked: a tab
	// that has not learnt of B's call (its poll ended, it was not brought
	// back into view), on which the user presses a button.
	liveA bool
	// newCall is the simulator's outcome for B's call ("": as A's).
	newCall string
}

// startTwoTabs brings a stack whose first new call comes after a second
// (the next after an hour) to twoTabs, for the identity email with the
// number +dn; its tabs are named prefix-a and prefix-b.
func startTwoTabs(t *testing.T, email, dn, prefix string, o tabsOptions) twoTabs {
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
	if !o.liveA {
		tt.a.do("block tab A's status requests", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, network.SetBlockedURLs, network.SetBlockedURLsParams{
				URLPatterns: []*network.BlockPattern{{URLPattern: tt.svc + "/v1/challenges/*", Block: true}}})
			return chromedp.Void{}, err
		})
	}
	tt.a.navigate("open /2fa", chromedp.Navigate(tt.svc+"/2fa?lang=en"))
	tt.a.navigate("call me", chromedp.Click(chromedp.CSS("form button[type=submit]")))
	tt.a.waitText("We are calling")
	tt.idA = challengeIDOn(tt.a)
	if !o.liveA {
		ctx, cancel := tt.a.timeout()
		reached, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/v1/challenges/`+tt.idA+`?follow=true").then(
			function () { return true; }, function () { return false; })`, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil || reached {
			t.Fatalf("tab A's status request was not blocked (reached %v, %v)", reached, err)
		}
	}

	tt.b = tt.a.sibling(prefix + "-b")
	withToken(tt.b)
	tt.b.navigate("open tab A's page", chromedp.Navigate(tt.a.url()))
	tt.resendUsable(tt.b)
	if o.newCall != "" {
		setSimScript(t, tt.svc, dn, o.newCall)
	}
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
	tt := startTwoTabs(t, "tabs@example.com", "79009990053", "stepup-tab", tabsOptions{})
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

// TestStepUpPageOtherTabFollowsTheNewCallInBrowser drives /2fa in two
// Chromium tabs of one session against the real service and Kratos. Tab B
// asks for a new call, which replaces tab A's challenge and does not reach
// the phone. Tab A, left alone, follows the flow to B's call and says so
// ("We could not reach your phone", the new-call button usable), as B
// does: its status poll followed the session's current challenge, or it
// asked once as it came back into view. It stopped at "superseded" and
// went on showing the code field of a call nobody would type a code from.
// No call is placed for it.
func TestStepUpPageOtherTabFollowsTheNewCallInBrowser(t *testing.T) {
	tt := startTwoTabs(t, "tabs-follow@example.com", "79009990055", "follow-tab", tabsOptions{liveA: true, newCall: "unreachable"})
	a, b := tt.a, tt.b
	b.waitText("We could not reach your phone")
	// The user turns to tab A, now and then (its poll may have followed
	// already, or be answering a request sent before B's call).
	for deadline := time.Now().Add(guard); ; time.Sleep(time.Second) {
		ctx, cancel := a.timeout()
		body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.dispatchEvent(new Event("focus")); document.body ? document.body.innerText : ""`))
		cancel()
		if err == nil && strings.Contains(body, "We could not reach your phone") {
			break
		}
		if time.Now().After(deadline) {
			a.shot("FAILED-follow")
			t.Fatalf("tab A never showed that B's call did not reach the phone; it shows:\n%s", body)
		}
	}
	a.shot("tab-a-follows-b")
	if got := challengeIDOn(a); got != tt.idB {
		t.Fatalf("tab A names challenge %s, want B's %s", got, tt.idB)
	}
	if eval[bool](a, `document.querySelector("[data-cp-resend]").disabled`) {
		t.Fatal("tab A's new-call button is disabled after B's call did not reach the phone")
	}
	if n := simRequests(t, tt.svc, tt.dn); n != tt.callsBefore+2 {
		t.Fatalf("%d calls placed for the step-up, want 2 (tab A's, tab B's)", n-tt.callsBefore)
	}
}
