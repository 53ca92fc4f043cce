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

// TestChangeNumberReachesThePhoneField: the code step's "Change number"
// at registration leads to a form where the number can be changed. With
// Kratos's two-step registration it led to the flow's current screen,
// the password, where the number is a hidden field; the user had to find
// "Back" (which did not work either). It now goes to the profile step,
// and the corrected number gets the call.
func TestChangeNumberReachesThePhoneField(t *testing.T) {
	ws := startWebStack(t)
	p := newPage(t, newBrowser(t, "ru"), "registration-change-number")
	p.do("open registration", chromedp.Navigate(ws.UI+"/registration"),
		chromedp.WaitVisible(chromedp.CSS("#f-traits-email")))
	p.navigate("fill the profile, a wrong number",
		chromedp.SendKeys(chromedp.CSS("#f-traits-email"), "change@example.com"),
		chromedp.SendKeys(chromedp.CSS("#f-traits-phone"), "+79001238855"),
		chromedp.Click(chromedp.CSS(`button[name="method"][value="profile"]`)))
	p.navigate("choose a password",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testPassword),
		chromedp.Click(chromedp.CSS(`button[name="method"][value="password"]`)))
	p.do("the code step", chromedp.WaitVisible(chromedp.CSS("#cp-code")))
	p.navigate("change number", chromedp.Click(chromedp.CSS(`a[href*="callpass=change"]`)))
	p.shot("change-number")
	field := eval[string](p, `(function(){ var e = document.querySelector('input[name="traits.phone"]');
		return e ? e.type + " " + e.value : "none"; })()`)
	if field != "tel +79001238855" {
		t.Fatalf("after 'Change number' the phone field is %q, want a visible tel field with the number typed:\n%s",
			field, eval[string](p, `document.body.innerText`))
	}
	p.do("correct the number", chromedp.SetValue(chromedp.CSS("#f-traits-phone"), "+79001238856"))
	p.navigate("send the profile", chromedp.Click(chromedp.CSS(`button[name="method"][value="profile"]`)))
	p.navigate("the password again",
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), testPassword),
		chromedp.Click(chromedp.CSS(`button[name="method"][value="password"]`)))
	p.waitText("***-**-56")
}
