package ui

import (
	"fmt"
	"html/template"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestRestoredCodeClearedInBrowser: when the browser goes back to a code
// step without its back/forward cache (a page that set a cookie, a full
// cache, the cache off), it loads the page again and puts back what the
// field held: the code already sent. The next code typed was appended to
// it and code.js sent the last digits of both ("1111" then "4610" sent
// "1114"), a wrong code costing an attempt. The field is now empty again,
// the old code is not sent again, and a new code goes as usual.
func TestRestoredCodeClearedInBrowser(t *testing.T) {
	ctx := startBrowser(t, chromedp.Flag("disable-back-forward-cache", true))

	srv, posted := stepSite{answer: redirectTo("/wrong"),
		pages: map[string]http.HandlerFunc{"GET /wrong": titled("wrong", "Wrong code")}}.start(t)

	open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), "1111"))
	select {
	case <-posted:
	case <-time.After(guard):
		t.Fatal("the typed code was not sent")
	}
	waitForJS(t, ctx, "the wrong-code page", `document.title === "wrong"`)
	evalJS(t, ctx, `setTimeout(() => history.back(), 0), ""`) // after the answer: a navigation while Evaluate waits for it fails it ("Inspected target navigated or closed")
	waitForJS(t, ctx, "the code step again", `document.title === "t" && document.readyState === "complete" && !!document.getElementById("cp-code")`)
	noPostFor(t, ctx, posted, 2*time.Second, "going back sent again")
	if v := evalJS(t, ctx, `document.getElementById("cp-code").value`); v != "" {
		t.Errorf("the field holds the sent code %q again", v)
	}
	// The page still works: a new code goes at its last digit.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), "4610")); err != nil {
		t.Fatal(err)
	}
	select {
	case form := <-posted:
		if form.Get("code") != "4610" {
			t.Errorf("posted %q, want 4610", form.Get("code"))
		}
	case <-time.After(guard):
		t.Fatal("a new code was not sent")
	}
}

// TestNoCodeSentWithoutTypingInBrowser: code.js sends a code only on the
// user's typing or paste, never because the field held one when the page
// came (back).
//
//   - Chromium (checked here) puts a field's value back on a history
//     navigation without the back/forward cache after "load", before
//     "pageshow", and not on a reload; Firefox puts it back while parsing,
//     before code.js runs, and code.js checked the field as it started: a
//     4-digit value there was sent at once, the code already used again (a
//     wrong code costing an attempt). A value there at the start (put in
//     here by a script before code.js, as Firefox does) is no longer sent:
//     on a reload or a history navigation it is cleared, on a first visit
//     (typed before the script came) it waits for "Confirm".
//   - A code beginning with 7 or 8 waits for a pause before it goes; a page
//     left within the pause and kept in the back/forward cache resumed its
//     timer when "back" brought it again, and sent it with nothing typed.
//     Leaving the page now cancels the pause; the code waits for "Confirm",
//     and the note says so.
func TestNoCodeSentWithoutTypingInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := stepSite{
		// What Firefox does while parsing the page: the field holds its
		// old value before the (deferred) code.js runs.
		before: func(w http.ResponseWriter, req *http.Request) template.HTML {
			if v := req.URL.Query().Get("restore"); v != "" {
				return template.HTML(`<script>document.getElementById("cp-code").value = "` + template.JSEscapeString(v) + `";</script>`)
			}
			return ""
		},
		pages: map[string]http.HandlerFunc{"GET /other": titled("other", "Another page")},
	}.start(t)

	noPost := func(what string) {
		t.Helper()
		noPostFor(t, ctx, posted, 2500*time.Millisecond, fmt.Sprintf("%s: sent with nothing typed", what)) // longer than code.js's PAUSE
	}
	field := func() string { return evalJS(t, ctx, `document.getElementById("cp-code").value`) }
	ready := `document.title === "t" && document.readyState === "complete" && !!document.getElementById("cp-code")`

	// A value there as the script starts, on a first visit: kept, not sent.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?restore=4610")); err != nil {
		t.Fatal(err)
	}
	noPost("first visit with a value in the field")
	if v := field(); v != "4610" {
		t.Errorf("first visit: the field holds %q, want what was typed, 4610", v)
	}
	if note := evalJS(t, ctx, `document.getElementById("cp-autosend").textContent`); note != Text("en", "code.no_js_autosend") {
		t.Errorf("first visit with a value: the note says %q", note)
	}
	// The same on a reload: cleared.
	evalJS(t, ctx, `setTimeout(() => location.reload(), 0), ""`)
	waitForJS(t, ctx, "the reloaded page", ready+` && performance.getEntriesByType("navigation")[0].type === "reload"`)
	noPost("reload with the value put back")
	if v := field(); v != "" {
		t.Errorf("after a reload the field holds %q", v)
	}
	// Typing still sends.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), "4610")); err != nil {
		t.Fatal(err)
	}
	select {
	case form := <-posted:
		if form.Get("code") != "4610" {
			t.Errorf("typed 4610 after the reload: posted %q", form.Get("code"))
		}
	case <-time.After(guard):
		t.Fatal("typed 4610 after the reload: nothing posted")
	}
	waitForJS(t, ctx, "the answer", `document.title === "done"`)

	// A code typed, the page left within the pause, then "back" (from the
	// back/forward cache: the page as it was, its timers resumed).
	open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), "7010"))
	evalJS(t, ctx, `setTimeout(() => location.href = "/other", 0), ""`)
	waitForJS(t, ctx, "the other page", `document.title === "other"`)
	time.Sleep(2500 * time.Millisecond) // the pause is over, the page frozen
	select {
	case form := <-posted:
		t.Fatalf("leaving the page within the pause sent %q", form.Get("code"))
	default:
	}
	evalJS(t, ctx, `setTimeout(() => history.back(), 0), ""`)
	waitForJS(t, ctx, "the code step again", ready)
	noPost("back to a page left within the pause")
	if v := field(); v != "7010" {
		t.Errorf("back from the cache: the field holds %q, want 7010 as left", v)
	}
	// The note said "checked as soon as you type its last digit" over a
	// code typed whole and not sent: what the user must do is press
	// "Confirm", as for digits held for it.
	if note := evalJS(t, ctx, `document.getElementById("cp-autosend").textContent`); note != Text("en", "code.js_hold") {
		t.Errorf("back from the cache: the note says %q, want %q", note, Text("en", "code.js_hold"))
	}
	// A click by script: chromedp's Click waits in vain on a page the cache
	// brought back.
	evalJS(t, ctx, `setTimeout(() => document.querySelector("[data-cp-submit]").click(), 0), ""`)
	select {
	case form := <-posted:
		if form.Get("code") != "7010" {
			t.Errorf("Confirm after coming back: posted %q, want 7010", form.Get("code"))
		}
	case <-time.After(guard):
		t.Fatal("Confirm after coming back: nothing posted")
	}
}
