package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowser drives headless Chromium through the demo stack: a real
// Kratos, the service in dev mode with the simulator, examples/ui and
// examples/app. One stack and one browser serve every subtest (each in its
// own browser context, so cookies never leak between them); screenshots
// of each step land in testout/e2e/.
func TestBrowser(t *testing.T) {
	browser := newBrowser(t, "en-US")
	// A short resend cooldown keeps the countdown test quick.
	ws := startWebStack(t, "CHALLENGE_RESEND_COOLDOWNS=4s,4s")

	t.Run("newcomer", func(t *testing.T) { testNewcomer(t, ws, browser) })
}

// testNewcomer is the README's path: register with a phone (proven by a
// call), sign in, read the call off the virtual phone, type the digits, land
// in the example app that shows the JWT claims.
func testNewcomer(t *testing.T, ws *webStack, browser context.Context) {
	const email, dn = "newcomer@example.com", "79001234567"
	p := newPage(t, browser, "newcomer")
	p.do("open registration", chromedp.Navigate(ws.UI+"/registration?lang=en"),
		chromedp.WaitVisible(chromedp.CSS("#f-traits-email")))
	p.shot("registration")
	p.do("fill the profile",
		chromedp.SendKeys(chromedp.CSS("#f-traits-email"), email),
		chromedp.SendKeys(chromedp.CSS("#f-traits-phone"), "+7 900 123-45-67"),
		chromedp.Click(chromedp.CSS(`button[name="method"][value="profile"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
	p.shot("registration-password")
	p.do("choose a password",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testPassword),
		chromedp.Click(chromedp.CSS(`button[name="method"][value="password"]`)),
		chromedp.WaitVisible(chromedp.CSS("#cp-code")))
	if lead := p.text("#cp-lead"); !strings.Contains(lead, "+7 900 ***-**-67") || !strings.Contains(lead, "4") {
		t.Errorf("registration code step lead = %q", lead)
	}
	p.shot("registration-code-step")
	code := phoneCode(t, p, ws.Service.URL, dn, 1)
	p.do("type the registration code", chromedp.SendKeys(chromedp.CSS("#cp-code"), code))
	p.waitText("xxxxx")
}
