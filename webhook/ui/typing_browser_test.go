package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTypingTheCallingNumberInBrowser: with code.js, a user who types the
// whole calling number key by key ("+7 495 123-46-10", as the hint shows
// it) is not sent at its first four digits ("7495", a wrong code costing an
// attempt): a number begun with "+" or "(" stays as typed, the note says to
// press "Confirm", and "Confirm" sends its last digits. Typing just the code
// still sends it with its last digit, and a whole number put in at once
// (autofill) still sends its last digits at once.
func TestTypingTheCallingNumberInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	open := func() {
		t.Helper()
		open(t, ctx, srv.URL+"/")
	}
	for _, number := range []string{"+7 495 123-46-10", "(495) 123-46-10"} {
		open()
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), number)); err != nil {
			t.Fatal(err)
		}
		noPostFor(t, ctx, posted, 300*time.Millisecond, "typing "+number+" before it was finished")
		if v := evalJS(t, ctx, `document.getElementById("cp-code").value`); v != number {
			t.Errorf("typed %q, the field shows %q", number, v)
		}
		if note := evalJS(t, ctx, `document.getElementById("cp-autosend").textContent`); note != Text("en", "code.no_js_autosend") {
			t.Errorf("typing %q: the note says %q", number, note)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
			t.Fatal(err)
		}
		wantCode(t, ctx, posted, "typed "+number+", then Confirm", "4610")
	}

	open()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), "46 10")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, ctx, posted, "typed 46 10", "4610")

	open()
	evalJS(t, ctx, `(function(){ var el = document.getElementById("cp-code"); el.value = "+74951234610";
		el.dispatchEvent(new InputEvent("input", {inputType: "insertReplacementText", bubbles: true})); return ""; })()`)
	wantCode(t, ctx, posted, "autofilled +74951234610", "4610")
}

// TestTypingANationalNumberInBrowser: a calling number typed key by key in
// national form, without "+" or "(" ("8 495 123-45-67", "84951234567",
// "7 999 …"), was sent at its fourth digit ("8495", a wrong code costing an
// attempt). It now stays as typed, even with a pause after its fourth digit
// shorter than code.js's PAUSE, and "Confirm" sends its last digits; the
// note says to press it. So does one typed without its trunk prefix
// ("495 123-46-10", sent as "4951") or from its local part ("123-46-10"). (The plain codes: TestTypingACodeInBrowser.)
func TestTypingANationalNumberInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	tests := []struct{ first, rest, want string }{
		{"8 495 123-45-67", "", "4567"},
		{"84951234567", "", "4567"},
		{"7 999 123-45-67", "", "4567"},
		{"79991234567", "", "4567"},
		{"8495", "1234567", "4567"}, // a pause after the area code
		// Without the trunk prefix (as forms with a fixed "+7" take it), or
		// from the local part: a group of three digits and a separator is
		// no code, whose last four digits are written "46-10".
		{"495 123-46-10", "", "4610"},
		{"495-123-46-10", "", "4610"},
		{"123-46-10", "", "4610"},
	}
	for _, tt := range tests {
		number := tt.first + tt.rest
		open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), tt.first))
		if tt.rest != "" {
			if err := chromedp.Do(ctx, chromedp.Sleep(700*time.Millisecond), chromedp.SendKeys(chromedp.CSS("#cp-code"), tt.rest)); err != nil {
				t.Fatal(err)
			}
		}
		noPostFor(t, ctx, posted, 2500*time.Millisecond, fmt.Sprintf("typing %q sent before it was finished", number)) // longer than PAUSE (2 s): no timer sends it either
		if v := evalJS(t, ctx, `document.getElementById("cp-code").value`); v != number {
			t.Errorf("typed %q, the field shows %q", number, v)
		}
		if note := evalJS(t, ctx, `document.getElementById("cp-autosend").textContent`); note != Text("en", "code.no_js_autosend") {
			t.Errorf("typing %q: the note says %q", number, note)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
			t.Fatal(err)
		}
		wantCode(t, ctx, posted, fmt.Sprintf("typed %q, then Confirm", number), tt.want)
	}
}

// TestTypingACodeInBrowser: a plain code still goes by itself once typed,
// with nothing pressed: at its last digit, or, when a number may begin
// with it (7 or 8, a trunk prefix; 3, 4, 8 or 9, an area or mobile code),
// after the pause that tells it from one
// (digits where a number's group ends, "8495", "7999", wait for "Confirm":
// TestNumberStartsWaitForConfirmInBrowser).
// Deleting a digit during the pause and typing another, or typing a new
// code over the whole field, sends the new code.
func TestTypingACodeInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	tests := []struct {
		keys   []string
		want   string
		paused bool // sent only after code.js's PAUSE
	}{
		{[]string{"2610"}, "2610", false},
		{[]string{"4610"}, "4610", true}, // inside the second group of "461 0…" (TestNumberGroupsInBrowser)
		{[]string{"7010"}, "7010", true},
		{[]string{"8050"}, "8050", true},
		{[]string{"7011", "\b", "0"}, "7010", true},
		// Typed over within the pause (all selected): a new code, not a number.
		{[]string{"7011", "select", "4610"}, "4610", false},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/")
		for _, k := range tt.keys {
			if k == "select" {
				evalJS(t, ctx, `document.getElementById("cp-code").select(), ""`)
				continue
			}
			if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), k)); err != nil {
				t.Fatal(err)
			}
		}
		if tt.paused {
			noPostFor(t, ctx, posted, time.Second, fmt.Sprintf("%q: sent at once, not after the pause", tt.want))
		}
		wantCode(t, ctx, posted, fmt.Sprintf("typed %q", tt.keys), tt.want)
	}
}

// TestResendWithinThePauseInBrowser: "Call me again" pressed within the
// pause of a code beginning with 7 or 8 asks for a new call only. The pause's
// timer ran on while the resend's answer was awaited and then posted the
// code form, a navigation that replaced the resend's: the code was checked
// (the user had moved on from it) and no new call was asked for.
func TestResendWithinThePauseInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := stepSite{answer: func(w http.ResponseWriter, req *http.Request) {
		if req.PostForm.Has("resend") {
			time.Sleep(3 * time.Second) // a slow answer: longer than the pause
		}
		titled("done", "")(w, req)
	}}.start(t)

	open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), "7010"))
	evalJS(t, ctx, `setTimeout(() => document.querySelector("[data-cp-resend]").click(), 0), ""`)
	what := func(form url.Values) string {
		if form.Has("resend") {
			return "resend"
		}
		return "code " + form.Get("code")
	}
	var got []string
	select {
	case form := <-posted:
		got = append(got, what(form))
	case <-time.After(guard):
	}
	// Whatever the page posts goes before the answer shown: once it is,
	// every post is in.
	waitForJS(t, ctx, "the resend's answer", `document.title === "done"`)
	for len(posted) > 0 {
		got = append(got, what(<-posted))
	}
	if len(got) != 1 || got[0] != "resend" {
		t.Errorf("posted %q, want the resend alone", got)
	}
}

// TestThePauseIsAnnouncedInBrowser: a code beginning with 7 or 8 typed key
// by key waits code.js's pause before it goes, while the note under the
// field said it goes "as soon as you type its last digit": nothing showed
// or announced the wait, so the page looked (and, to a screen reader,
// sounded) hung. The note, a polite live region, now says the code is
// checked in a moment or at once with "Confirm"; a digit deleted within
// the pause puts the usual note back. Other codes go at once, as before.
func TestThePauseIsAnnouncedInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)
	note := func() string { return evalJS(t, ctx, `document.getElementById("cp-autosend").textContent`) }

	open(t, ctx, srv.URL+"/")
	if live := evalJS(t, ctx, `document.getElementById("cp-autosend").getAttribute("aria-live") || ""`); live != "polite" {
		t.Errorf("the note's aria-live is %q, want polite: its changes go unannounced", live)
	}
	steps := []struct{ keys, note string }{
		{"701", Text("en", "code.js_autosend")},
		{"0", Text("en", "code.js_pause")},
		{"\b", Text("en", "code.js_autosend")},
		{"0", Text("en", "code.js_pause")},
	}
	for _, s := range steps {
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), s.keys)); err != nil {
			t.Fatal(err)
		}
		if got := note(); got != s.note {
			t.Errorf("after %q the note says %q, want %q", s.keys, got, s.note)
		}
	}
	select {
	case form := <-posted:
		if form.Get("code") != "7010" {
			t.Errorf("posted %q, want 7010", form.Get("code"))
		}
	case <-time.After(guard):
		t.Fatal("7010: nothing posted after the pause")
	}
	waitForJS(t, ctx, "the answer", `document.title === "done"`)
}

// TestOneFormAtATimeInBrowser: once the code has gone, "Call me again"
// does not post, and once "Call me again" has, a code typed does not: the
// second form's post replaced the first's navigation while its answer was
// awaited (a slow check, a slow provider), so the browser dropped the
// answer it had asked for, the server saw the two race (a new call
// placed after the code was checked, or a code checked against a call
// being replaced) and the page showed the answer to what the user did not
// wait for.
func TestOneFormAtATimeInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	// A slow answer: none comes before the page has tried its second
	// action (it says so by a beacon), so a second post, if the page makes
	// one, is always made and caught, however slow the machine.
	var tried atomic.Pointer[chan struct{}]
	srv, posted := stepSite{
		answer: func(w http.ResponseWriter, req *http.Request) {
			select {
			case <-*tried.Load():
			case <-time.After(guard):
				t.Error("the page never tried its second action")
			}
			titled("done", "")(w, req)
		},
		pages: map[string]http.HandlerFunc{"POST /tried": func(w http.ResponseWriter, req *http.Request) {
			ch := *tried.Load()
			select {
			case <-ch:
			default:
				close(ch)
			}
		}},
	}.start(t)

	what := func(form url.Values) string {
		if form.Has("resend") {
			return "resend"
		}
		return "code " + form.Get("code")
	}
	// The second action is scheduled in the page before the first: once a
	// form's post is under way, chromedp reaches only the coming document.
	const resend = `document.querySelector("[data-cp-resend]").click()`
	const typeDigit = `(function () { var el = document.getElementById("cp-code"); el.value += "0";
		el.dispatchEvent(new InputEvent("input", {inputType: "insertText", data: "0", bubbles: true})); })()`
	tests := []struct {
		name          string
		first, second string
		want          string
	}{
		{"code, then Call me again", typeDigit, resend, "code 2610"}, // a code no number begins with: sent at its last digit
		{"Call me again, then a code", resend, typeDigit, "resend"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), "261"))
		ch := make(chan struct{})
		tried.Store(&ch)
		evalJS(t, ctx, `setTimeout(function () { `+tt.second+`; navigator.sendBeacon("/tried"); }, 300), setTimeout(function () { `+tt.first+`; }, 0), ""`)
		select {
		case form := <-posted:
			if what(form) != tt.want {
				t.Fatalf("%s: first posted %s", tt.name, what(form))
			}
		case <-time.After(guard):
			t.Fatalf("%s: nothing posted", tt.name)
		}
		// Every post the page made went before the answer shown.
		waitForJS(t, ctx, tt.name+": the answer", `document.title === "done"`)
		for len(posted) > 0 {
			t.Errorf("%s: posted %s as well", tt.name, what(<-posted))
		}
	}
}

// TestInsertedAtOnceInBrowser: a code or calling number put in by one input
// event goes at once as its last digits, as a paste does: an autofill
// (insertReplacementText, or an event with no inputType) and a keyboard's
// suggestion (a clipboard chip, a one-time-code suggestion), which inserts
// the whole text as one insertText. The last was taken for a key typed: a
// code beginning with 7 or 8 waited the pause, and a whole number
// ("+7 495 123-46-10", copied from the call log) waited for "Confirm".
func TestInsertedAtOnceInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	tests := []struct{ name, event, value, want string }{
		{"autofill", `new InputEvent("input", {inputType: "insertReplacementText", data: "7310", bubbles: true})`, "7310", "7310"},
		{"autofill, no inputType", `new Event("input", {bubbles: true})`, "8310", "8310"},
		{"autofill of a national number", `new InputEvent("input", {inputType: "insertReplacementText", bubbles: true})`, "8 495 123-46-10", "4610"},
		{"suggestion of a code", `new InputEvent("input", {inputType: "insertText", data: "7310", bubbles: true})`, "7310", "7310"},
		{"suggestion of a number", `new InputEvent("input", {inputType: "insertText", data: "+7 495 123-46-10", bubbles: true})`, "+7 495 123-46-10", "4610"},
		{"suggestion of a national number", `new InputEvent("input", {inputType: "insertText", data: "84951234610", bubbles: true})`, "84951234610", "4610"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/")
		// At once: in the input event's own turn (a code that waits the
		// pause goes from a timer), read in it, as the page is then leaving.
		field := evalJS(t, ctx, `(function () { var el = document.getElementById("cp-code"); el.focus(); el.value = "`+tt.value+`";
			el.dispatchEvent(`+tt.event+`); return `+codeGone+` ? "" : el.value; })()`)
		if field != "" {
			t.Fatalf("%s: %q not sent at once (the field: %q)", tt.name, tt.value, field)
		}
		wantCode(t, ctx, posted, tt.name, tt.want)
	}
}

// TestCodeOverANumberInBrowser: a calling number begun in the field and
// then replaced whole by the code (all selected and the code typed over
// it, or an autofill) is a new code and goes by itself: the field stayed
// "a number" until emptied, so the code waited for "Confirm". A number
// only corrected (a digit deleted and typed again) stays a number.
func TestCodeOverANumberInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	tests := []struct {
		name  string
		steps []string // keys typed; "select": all selected; "autofill:V": V put in as an autofill
		want  string   // "": nothing sent within the pause
	}{
		{"typed over", []string{"+7 495", "select", "4610"}, "4610"},
		{"typed over, a code beginning with 8", []string{"8 495 1", "select", "8010"}, "8010"},
		{"autofilled over", []string{"+7 4", "autofill:4610"}, "4610"},
		{"corrected", []string{"8 495", "\b", "5"}, ""},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/")
		for _, s := range tt.steps {
			switch {
			case s == "select":
				evalJS(t, ctx, `document.getElementById("cp-code").select(), ""`)
			case strings.HasPrefix(s, "autofill:"):
				evalJS(t, ctx, `(function () { var el = document.getElementById("cp-code"); el.value = "`+strings.TrimPrefix(s, "autofill:")+`";
					el.dispatchEvent(new InputEvent("input", {inputType: "insertReplacementText", bubbles: true})); return ""; })()`)
			default:
				if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), s)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if tt.want == "" {
			noPostFor(t, ctx, posted, 3500*time.Millisecond, tt.name) // longer than code.js's PAUSE
			continue
		}
		wantCode(t, ctx, posted, tt.name, tt.want)
	}
}

// TestPasteOverASelectionInBrowser: a piece of a code pasted replaces what
// is selected, as a paste does anywhere: code.js put it after the whole
// field ("12" selected and "46" pasted gave "1246", sent at once, a wrong
// code costing an attempt). A piece pasted at the caret still joins the
// digits typed before it.
func TestPasteOverASelectionInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	tests := []struct {
		name, typed, selectJS, paste, field, want string
	}{
		{"all selected", "12", `el.select()`, "46", "46", ""},
		{"the last digit selected", "461", `el.setSelectionRange(2, 3)`, "10", "4610", "4610"},
		{"at the caret", "46", `el.setSelectionRange(2, 2)`, "10", "4610", "4610"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), tt.typed))
		field := evalJS(t, ctx, `(function () { var el = document.getElementById("cp-code"); `+tt.selectJS+`;
			var dt = new DataTransfer(); dt.setData("text/plain", "`+tt.paste+`");
			el.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
			return el.value + (`+codeGone+` ? "|sent" : ""); })()`)
		field, sent := strings.CutSuffix(field, "|sent") // a paste goes at once or waits for more
		if field != tt.field {
			t.Errorf("%s: %q pasted over %q: the field shows %q, want %q", tt.name, tt.paste, tt.typed, field, tt.field)
		}
		if !sent {
			if tt.want != "" {
				t.Errorf("%s: nothing posted", tt.name)
			}
			noPostFor(t, ctx, posted, time.Second, tt.name)
			continue
		}
		wantCode(t, ctx, posted, tt.name, tt.want)
	}
}

// TestConfirmSaysCheckingInBrowser: a code sent with "Confirm" (or Enter)
// says "Checking the code…" in the live status, as one sent by itself does:
// it said nothing while a slow check was awaited, so the page looked hung
// to the user who pressed the button, and a screen reader was silent.
func TestConfirmSaysCheckingInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	tests := []struct{ name, typed, send, want string }{
		{"Confirm after a number", "+7 495 123-46-10", `document.querySelector("[data-cp-submit]").click()`, "4610"},
		{"Enter within the pause", "7010", `document.querySelector("[data-cp-form]").requestSubmit()`, "7010"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), tt.typed))
		// Read in the same turn as the submit: then the page is left.
		got := evalJS(t, ctx, `(function () { `+tt.send+`; var m = document.getElementById("cp-msg");
			return m.textContent + " | " + m.getAttribute("aria-live"); })()`)
		if want := Text("en", "code.checking") + " | polite"; got != want {
			t.Errorf("%s: the status says %q, want %q", tt.name, got, want)
		}
		wantCode(t, ctx, posted, tt.name, tt.want)
	}
}
