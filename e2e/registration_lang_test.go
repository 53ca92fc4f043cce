package e2e_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestRegistrationPasswordRefusalsInRussian registers through the example
// UI and a real Kratos in a Russian browser and chooses passwords Kratos
// refuses: too short, and the e-mail itself. Kratos words its refusals in
// English only; the page says them in Russian (it showed "The password
// must be at least 8 characters long, but got 5." and a "Back" button on a
// Russian page).
func TestRegistrationPasswordRefusalsInRussian(t *testing.T) {
	ws := startWebStack(t)
	p := newPage(t, newBrowser(t, "ru"), "registration-ru-password")
	tests := []struct {
		password, want string
	}{
		{"abcde", "Пароль должен быть не короче 8 символов (введено: 5)."},
		{"registration-ru@example.com", "слишком похож"},
	}
	for _, tt := range tests {
		p.do("open registration", chromedp.Navigate(ws.UI+"/registration"),
			chromedp.WaitVisible(chromedp.CSS("#f-traits-email")))
		p.do("fill the profile",
			chromedp.SendKeys(chromedp.CSS("#f-traits-email"), "registration-ru@example.com"),
			chromedp.SendKeys(chromedp.CSS("#f-traits-phone"), "+79001239911"),
			chromedp.Click(chromedp.CSS(`button[name="method"][value="profile"]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
		p.navigate("choose the password "+tt.password,
			chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), tt.password),
			chromedp.Click(chromedp.CSS(`button[name="method"][value="password"]`)))
		p.shot("refused-" + tt.password)
		p.waitText(tt.want)
		body := eval[string](p, `document.body.innerText`)
		for _, english := range []string{"The password", "password", "characters", "Back"} {
			if strings.Contains(body, english) {
				t.Errorf("password %q: the Russian page says %q:\n%s", tt.password, english, body)
			}
		}
	}
}
