package ui

import (
	"fmt"
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
// on makes them a number as before. (Where a number's groups make them wait
// the pause instead: TestNumberGroupsInBrowser.)
func TestNumberStartsWaitForConfirmInBrowser(t *testing.T) {
	ctx := startBrowser(t)
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
		{"a code beginning with 8 and an area code's digit", "8310", "", "code.js_hold", "8310"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/")
		typeKeys(tt.first)
		if got := note(); got != Text("en", tt.note) {
			t.Errorf("%s: after %q the note says %q, want %q", tt.name, tt.first, got, Text("en", tt.note))
		}
		noPostFor(t, ctx, posted, 2500*time.Millisecond, fmt.Sprintf("%s: typing %q sent by itself", tt.name, tt.first)) // longer than PAUSE (2 s): no timer sends it either
		if tt.rest != "" {
			typeKeys(tt.rest)
			if got := note(); got != Text("en", "code.no_js_autosend") {
				t.Errorf("%s: after the whole number the note says %q", tt.name, got)
			}
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
			t.Fatal(err)
		}
		wantCode(t, ctx, posted, tt.name+": Confirm", tt.want)
	}

	// A digit deleted while held puts the usual note back; typed again, the
	// code is held again.
	open(t, ctx, srv.URL+"/")
	for _, s := range []struct{ keys, note string }{
		{"835", "code.js_autosend"}, {"1", "code.js_hold"}, {"\b", "code.js_autosend"}, {"1", "code.js_hold"},
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

// TestNumberGroupsInBrowser: the hold went by a code's first digits, not by
// where a number typed group by group ("8|495|123|45|67", "495|123|45|67")
// has its look back. A landline number typed without 8 or +7
// ("4951234567", "3512214610") went as its first four digits at the fourth,
// a wrong code costing an attempt, while every code beginning with 9 (a
// tenth of them) waited for a click although its fourth digit falls inside
// the number's second group, whose next digit comes at once. Now digits a
// number begins with wait for "Confirm" only where a group ends (a trunk
// prefix and an area code: "8495", "7999"); inside a group ("4951", "9001",
// "3512") they wait the pause, and the typing that goes on makes them a
// number.
func TestNumberGroupsInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)
	// The page may be gone already: a code sent at once.
	note := func() string {
		return evalJS(t, ctx, `(function () { var el = document.getElementById("cp-autosend"); return el ? el.textContent : "(the page went)"; })()`)
	}

	tests := []struct {
		name  string
		typed string
		note  string // the note once typed
		auto  bool   // posted after the pause with nothing pressed; else posted by Confirm
		want  string
	}{
		{"a Moscow number without 8", "4951234567", "code.no_js_autosend", false, "4567"},
		{"a Chelyabinsk number without 8", "3512214610", "code.no_js_autosend", false, "4610"},
		{"a code beginning with 9", "9123", "code.js_pause", true, "9123"},
		{"a code beginning with 4", "4951", "code.js_pause", true, "4951"},
		{"a code beginning with 3", "3512", "code.js_pause", true, "3512"},
		{"a trunk prefix and an area code", "8351", "code.js_hold", false, "8351"},
		{"a code no number begins with", "2610", "code.js_autosend", true, "2610"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), tt.typed))
		typed := time.Now()
		if got := note(); got != Text("en", tt.note) && !(tt.auto && tt.note == "code.js_autosend") {
			t.Errorf("%s: after %q the note says %q, want %q", tt.name, tt.typed, got, Text("en", tt.note))
		}
		if tt.auto {
			select {
			case form := <-posted:
				if form.Get("code") != tt.want {
					t.Errorf("%s: posted %q, want %q", tt.name, form.Get("code"), tt.want)
				}
				if tt.note == "code.js_pause" && time.Since(typed) < 1500*time.Millisecond {
					t.Errorf("%s: posted after %v, within the pause", tt.name, time.Since(typed))
				}
			case <-time.After(guard):
				t.Fatalf("%s: %q was not sent without a click", tt.name, tt.typed)
			}
			waitForJS(t, ctx, tt.name+": the answer", `document.title === "done"`)
			continue
		}
		noPostFor(t, ctx, posted, 2500*time.Millisecond, fmt.Sprintf("%s: typing %q sent by itself", tt.name, tt.typed)) // longer than PAUSE (2 s): no timer sends it either
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
			t.Fatal(err)
		}
		wantCode(t, ctx, posted, tt.name+": Confirm", tt.want)
	}
}

// TestPieceAfterANumberStartInBrowser: digits held for "Confirm" or waiting
// their pause are a number's start, and typing on makes them one; but a
// piece of the number pasted after them ("12", "123") was taken for a piece
// of a code: cut to N digits, the held ones, and sent at once ("8495",
// which the note had just said is not sent by itself). The piece now goes
// on with the number, as typing does; a piece pasted over all of the
// digits still replaces them.
func TestPieceAfterANumberStartInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	tests := []struct {
		name, typed, selectJS, paste, field, rest, want string
	}{
		{"after held digits", "8495", "", "12", "849512", "34567", "4567"},
		{"after digits in their pause", "4951", "", "23", "495123", "4567", "4567"},
		{"over all the held digits", "8495", "el.select();", "26", "26", "10", "2610"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), tt.typed))
		field := evalJS(t, ctx, `(function () { var el = document.getElementById("cp-code"); `+tt.selectJS+`
			var dt = new DataTransfer(); dt.setData("text/plain", "`+tt.paste+`");
			if (el.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}))) {
				el.setRangeText("`+tt.paste+`", el.selectionStart, el.selectionEnd, "end"); // the browser's own paste
				el.dispatchEvent(new InputEvent("input", {inputType: "insertFromPaste", bubbles: true}));
			}
			return el.value; })()`)
		if field != tt.field {
			t.Errorf("%s: %q pasted after %q: the field shows %q, want %q", tt.name, tt.paste, tt.typed, field, tt.field)
		}
		noPostFor(t, ctx, posted, 2500*time.Millisecond, fmt.Sprintf("%s: the paste sent", tt.name)) // longer than PAUSE
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), tt.rest)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(function () { var b = document.querySelector("[data-cp-submit]");
			if (!b.disabled) { b.click(); } })()`)); err != nil {
			t.Logf("%s: Confirm: %v", tt.name, err) // the code may have gone at its last digit
		}
		wantCode(t, ctx, posted, tt.name, tt.want)
	}
}
