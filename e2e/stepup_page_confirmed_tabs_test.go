package e2e_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestStepUpPageCallAgainAfterAnotherTabConfirmed drives /2fa in two
// Chromium tabs of one session against the real service and Kratos. Tab
// B's new call replaces tab A's challenge, and B confirms the step-up with
// that call's code. Tab A, still showing its replaced challenge, then
// presses "call me again": the session has passed, so A says "Confirmed"
// and no third call is placed; a reload of A says "Confirmed" too.
func TestStepUpPageCallAgainAfterAnotherTabConfirmed(t *testing.T) {
	tt := startTwoTabs(t, "tabs-confirmed@example.com", "79009990054", "confirmed-tab", tabsOptions{})
	a, b := tt.a, tt.b
	b.navigate("type the new call's code in tab B", typeCode(lastCode(t, tt.svc, tt.dn)))
	b.waitText("Confirmed")

	tt.resendUsable(a)
	a.navigate("call me again in tab A", chromedp.Click(chromedp.CSS("[data-cp-resend]")))
	a.waitText("Confirmed")
	a.shot("tab-a-confirmed-by-b")
	a.navigate("reload tab A", chromedp.Reload())
	a.waitText("Confirmed")
	if n := simRequests(t, tt.svc, tt.dn); n != tt.callsBefore+2 {
		t.Fatalf("%d calls placed for the step-up, want 2 (tab A's, tab B's)", n-tt.callsBefore)
	}
}
