package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCodeJSInBrowser runs code.js in a real browser: pasting a whole
// caller number keeps its last N digits and auto-submits the form; the
// resend countdown is live.
func TestCodeJSInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := stepSite{step: func() CodeStep {
		return CodeStep{Lang: "en", PhoneMasked: "+7 900 ***-**-67", CodeLength: 4, ResendAfter: time.Now().Add(5 * time.Second),
			ExpiresAt: time.Now().Add(5 * time.Minute), FormAction: "/submit", HiddenFields: map[string]string{"csrf_token": "tok"}}
	}}.start(t)

	label := func() (string, bool) {
		l, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("[data-cp-resend]")))
		if err != nil {
			t.Fatal(err)
		}
		d, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("[data-cp-resend]").disabled`))
		if err != nil {
			t.Fatal(err)
		}
		return l, d
	}
	open(t, ctx, srv.URL+"/")
	label1, disabled1 := label()
	// How long the page has lived when label1 was read: a loaded machine
	// may read it a second or more after the countdown began.
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.now()`))
	if err != nil {
		t.Fatal(err)
	}
	lived := max(int(math.Ceil(ms/1000)), 1) // whole seconds, at least the one 0:04 allowed
	// The script says, before anything is typed, that the last digit sends
	// the code, and ties that to the field (WCAG 3.2.2).
	autosend, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){
			var n = document.getElementById("cp-autosend"), el = document.getElementById("cp-code");
			return (n.hidden ? "hidden" : n.textContent) + "|" + el.getAttribute("aria-describedby"); })()`))
	if err != nil {
		t.Fatal(err)
	}
	if text, describedBy, _ := strings.Cut(autosend, "|"); text != "The code is checked as soon as you type its last digit." ||
		!strings.Contains(" "+describedBy+" ", " cp-autosend ") {
		t.Errorf("auto-send note %q, field described by %q", text, describedBy)
	}
	// The countdown's end, however late a loaded machine's timers run.
	waitForJS(t, ctx, "the end of the countdown", `!document.querySelector("[data-cp-resend]").disabled`)
	label2, disabled2 := label()
	_, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){
			var dt = new DataTransfer(); dt.setData("text/plain", "+7 495 123-46-10");
			var el = document.getElementById("cp-code");
			el.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
			return el.value; })()`))
	if err != nil {
		t.Fatal(err)
	}
	started := false // 0:05, or down to what the page's age allows
	for k := 5; k >= 5-lived && k > 0; k-- {
		started = started || label1 == fmt.Sprintf("Call me again in 0:%02d", k)
	}
	if !started || !disabled1 {
		t.Errorf("countdown start: %q disabled=%v", label1, disabled1)
	}
	if label2 != "Call me again" || disabled2 {
		t.Errorf("countdown end: %q disabled=%v", label2, disabled2)
	}
	select {
	case form := <-posted:
		if form.Get("code") != "4610" || form.Get("csrf_token") != "tok" {
			t.Errorf("auto-submitted %v", form)
		}
	case <-ctx.Done():
		t.Fatal("pasting a full number did not auto-submit")
	}
}

// TestCodeStepWithoutJSInBrowser: with no script on the page, typing or
// pasting the whole calling number is neither cut by maxlength nor blocked
// by pattern; the form posts it as typed and the server keeps the last
// digits (examples/ui normalizeCode).
func TestCodeStepWithoutJSInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	// The component alone: no code.js, as in a browser without JavaScript.
	srv, posted := stepSite{noScript: true, step: func() CodeStep {
		return CodeStep{Lang: "en", CodeLength: 4, FormAction: "/submit"}
	}}.start(t)

	const number = "+7 (495) 123-46-10"
	open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), number))
	value, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#cp-code")))
	if err != nil {
		t.Fatal(err)
	}
	valid, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("cp-code").checkValidity()`))
	if err != nil {
		t.Fatal(err)
	}
	if value != number || !valid {
		t.Fatalf("typed %q: field holds %q, valid=%v", number, value, valid)
	}
	// Too few digits is still refused by the browser.
	short, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var e=document.getElementById("cp-code");
		var v=e.value; e.value="+7 46"; var ok=e.checkValidity(); e.value=v; return ok;})()`))
	if err != nil {
		t.Fatal(err)
	}
	if short {
		t.Error(`"+7 46" passes the field's validation`)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
		t.Fatal(err)
	}
	select {
	case form := <-posted:
		if form.Get("code") != number {
			t.Errorf("posted %v, want the number as typed", form)
		}
	case <-ctx.Done():
		t.Fatal("the form was not submitted")
	}
}

// TestWaitMessageCountdownInBrowser: a "try again in …" message counts down
// with the button, silently, and says the action is available once the wait
// is over.
func TestWaitMessageCountdownInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, _ := stepSite{step: func() CodeStep {
		at := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
		s := CodeStep{Lang: "ru", CodeLength: 4, FormAction: "/submit"}
		s.ApplyMessage(Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{
			"retry_after": 25, "retry_at": at.UTC().Format(time.RFC3339)}})
		return s
	}}.start(t)

	msg := func() (text, live string) {
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#cp-msg")))
		if err != nil {
			t.Fatal(err)
		}
		live, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("cp-msg").getAttribute("aria-live")`))
		if err != nil {
			t.Fatal(err)
		}
		return text, live
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-msg"))); err != nil {
		t.Fatal(err)
	}
	first, live1 := msg()
	// The button waits (disabled): focus is on the message, not on it.
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	if err != nil {
		t.Fatal(err)
	}
	if focused != "cp-msg" {
		t.Errorf("focus on %q, want the message", focused)
	}
	// The next tick, however late a loaded machine's timers run.
	waitForJS(t, ctx, "a tick of the countdown", `document.getElementById("cp-msg").textContent !== `+strconv.Quote(first))
	second, _ := msg()
	if !strings.HasPrefix(first, "Слишком много попыток. Повторите через ") || strings.Contains(first, "25 с") || live1 != "off" {
		t.Errorf("at first: %q aria-live=%q", first, live1)
	}
	if second == first || !strings.HasPrefix(second, "Слишком много попыток. Повторите через ") {
		t.Errorf("the message did not count down: %q then %q", first, second)
	}
	if err := chromedp.Do(ctx, chromedp.WaitEnabled(chromedp.CSS("[data-cp-resend]"))); err != nil {
		t.Fatal(err)
	}
	waitForJS(t, ctx, "the end of the wait", `!document.getElementById("cp-msg").textContent.startsWith("Слишком много попыток.")`)
	if text, live := msg(); text != "Теперь можно повторить попытку." || live != "polite" {
		t.Errorf("after the wait: %q aria-live=%q", text, live)
	}
}
