package ui

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestNumberStartsWaitForConfirmInBrowser: code.js told a code from a
// calling number typed key by key only by timing, so two numbers still went
// as codes: a mobile number typed without +7 or 8 ("9001234567", sent as
// "9001" at its fourth digit) and a national one with a pause longer than
// PAUSE after its area code ("8495", then "1234567": "8495" sent by the
// timer). Digits a Russian number typed without separators begins with (a
// trunk prefix and an area code, "8 4…", "7 9…", or a mobile code, "9…")
// now wait for "Confirm", the note (a polite live region) saying so; typing
// on makes them a number as before. Other codes go as before: at once, or
// after the pause for one beginning with 7 or 8 that no number begins with.
func TestNumberStartsWaitForConfirmInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	srv, posted := codeStepServer(t)
	note := func() string { return evalJS(t, ctx, `document.getElementById("cp-autosend").textContent`) }
	typeKeys := func(keys string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), keys)); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name        string
		first, rest string // rest typed after a wait longer than PAUSE
		note        string // the note after first
		want        string // posted after "Confirm"
	}{
		{"a mobile number without +7 or 8", "9001234567", "", "code.no_js_autosend", "4567"},
		{"a national number, a long pause after its area code", "8495", "1234567", "code.js_hold", "4567"},
		{"a national mobile number, a long pause", "7999", "1234567", "code.js_hold", "4567"},
		{"a code beginning with 9", "9123", "", "code.js_hold", "9123"},
		{"a code beginning with 8 and an area code's digit", "8310", "", "code.js_hold", "8310"},
	}
	for _, tt := range tests {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-code"))); err != nil {
			t.Fatal(err)
		}
		typeKeys(tt.first)
		if got := note(); got != Text("en", tt.note) {
			t.Errorf("%s: after %q the note says %q, want %q", tt.name, tt.first, got, Text("en", tt.note))
		}
		select { // longer than PAUSE (2 s): no timer sends it either
		case form := <-posted:
			t.Fatalf("%s: typing %q sent %q by itself", tt.name, tt.first, form.Get("code"))
		case <-time.After(2500 * time.Millisecond):
		}
		if tt.rest != "" {
			typeKeys(tt.rest)
			if got := note(); got != Text("en", "code.no_js_autosend") {
				t.Errorf("%s: after the whole number the note says %q", tt.name, got)
			}
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
			t.Fatal(err)
		}
		select {
		case form := <-posted:
			if form.Get("code") != tt.want {
				t.Errorf("%s: Confirm posted %q, want %q", tt.name, form.Get("code"), tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Confirm posted nothing", tt.name)
		}
		waitForJS(t, ctx, tt.name+": the answer", `document.title === "done"`)
	}

	// A digit deleted while held puts the usual note back; typed again, the
	// code is held again.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-code"))); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ keys, note string }{
		{"912", "code.js_autosend"}, {"3", "code.js_hold"}, {"\b", "code.js_autosend"}, {"3", "code.js_hold"},
	} {
		typeKeys(s.keys)
		if got := note(); got != Text("en", s.note) {
			t.Errorf("after %q the note says %q, want %q", s.keys, got, Text("en", s.note))
		}
	}
	if live := evalJS(t, ctx, `document.getElementById("cp-autosend").getAttribute("aria-live") || ""`); live != "polite" {
		t.Errorf("the note's aria-live is %q, want polite", live)
	}
}
