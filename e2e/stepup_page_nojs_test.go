package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestStepUpPageWithoutJavaScript drives /2fa in Chromium with scripts
// off, against the real service and Kratos, as a Russian user: the code
// field takes the calling number as the hint shows it ("+7 495 123-46-10"),
// and the service reads its last digits as the code, so typing it confirms
// (it used to be a wrong code, costing an attempt). The page saying so
// stays on a reload and in the other language (they used to say the code
// had expired).
func TestStepUpPageWithoutJavaScript(t *testing.T) {
	st := startStack(t, stackOptions{})
	svc := st.Services[0].URL
	const email, dn = "oleg@example.com", "79009990044"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}

	p := newPage(t, newBrowser(t, "ru"), "stepup-nojs")
	p.do("session token header, scripts off", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		if _, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders,
			network.SetExtraHTTPHeadersParams{Headers: network.Headers{"X-Session-Token": tok}}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	})
	p.navigate("open /2fa", chromedp.Navigate(svc+"/2fa"))
	p.navigate("call me", chromedp.Click(chromedp.CSS("form button[type=submit]")))
	p.waitText("Мы звоним")
	if !eval[bool](p, `document.querySelector("[data-cp-autosend]").hidden`) {
		t.Fatal("code.js ran (it shows the auto-send note)")
	}

	calls := simCalls(t, svc, dn)
	if len(calls) == 0 {
		t.Fatal("no call reached the simulator")
	}
	c := calls[0].Caller // 11 digits, 7…
	typed := "+" + c[:1] + " " + c[1:4] + " " + c[4:7] + "-" + c[7:9] + "-" + c[9:]
	p.do("type the calling number", chromedp.SendKeys(chromedp.CSS("#cp-code"), typed))
	p.navigate("confirm", chromedp.Click(chromedp.CSS("[data-cp-submit]")))
	p.shot("after-confirm")
	p.waitText("Готово")
	if body := eval[string](p, `document.body.innerText`); strings.Contains(body, "Неверный код") {
		t.Fatalf("the calling number was taken as a wrong code:\n%s", body)
	}
	// A reload and the language switch keep saying it: the page is a GET,
	// and the code is neither sent again nor in its URL.
	if u := p.url(); strings.Contains(u, "/2fa/verify") || strings.Contains(u, c[7:]) {
		t.Errorf("the confirmed page is %s: a POST's answer, or the code in the URL", u)
	}
	p.navigate("reload", chromedp.Reload())
	p.waitText("Готово")
	p.navigate("switch to English", chromedp.Click(chromedp.CSS(`nav.cp-lang a[hreflang="en"]`)))
	p.shot("confirmed-en")
	p.waitText("Confirmed")
	if body := eval[string](p, `document.body.innerText`); strings.Contains(body, "expired") {
		t.Errorf("the confirmed page says the code expired:\n%s", body)
	}
}
