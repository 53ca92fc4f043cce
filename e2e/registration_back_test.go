package e2e_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestRegistrationBackToTheProfile: Kratos's two-step registration asks
// for the profile (e-mail, phone), then for the password, with a "Back"
// button to the profile. The example UI rendered that button in the form
// whose password field is required, so the browser refused to send it
// until a password was typed: a user who saw a mistyped number could not
// go back. It goes back now, password empty, to the profile as typed.
func TestRegistrationBackToTheProfile(t *testing.T) {
	ws := startWebStack(t)
	p := newPage(t, newBrowser(t, "ru"), "registration-back")
	p.do("open registration", chromedp.Navigate(ws.UI+"/registration"),
		chromedp.WaitVisible(chromedp.CSS("#f-traits-email")))
	p.navigate("fill the profile",
		chromedp.SendKeys(chromedp.CSS("#f-traits-email"), "back@example.com"),
		chromedp.SendKeys(chromedp.CSS("#f-traits-phone"), "+79001238866"),
		chromedp.Click(chromedp.CSS(`button[name="method"][value="profile"]`)))
	p.do("the password step", chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
	p.navigate("back", chromedp.Click(chromedp.CSS(`button[name="screen"][value="previous"]`)))
	p.shot("profile-again")
	p.do("the profile step", chromedp.WaitVisible(chromedp.CSS("#f-traits-phone")))
	if got := eval[string](p, `document.getElementById("f-traits-phone").value`); got != "+79001238866" {
		t.Errorf("the phone field holds %q, want the number typed", got)
	}
}
