package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
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
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	posted := make(chan url.Values, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		posted <- req.PostForm
		_, _ = w.Write([]byte("<!doctype html><title>done</title>"))
	})
	handleStepPage(t, r, mux, func() CodeStep {
		return CodeStep{Lang: "en", PhoneMasked: "+7 900 ***-**-67", CodeLength: 4,
			ExpiresAt: time.Now().Add(5 * time.Minute), FormAction: "/submit"}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	open := func() {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-code"))); err != nil {
			t.Fatal(err)
		}
	}
	wantPost := func(what, code string) {
		t.Helper()
		select {
		case form := <-posted:
			if form.Get("code") != code {
				t.Errorf("%s: posted code %q, want %q", what, form.Get("code"), code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing posted", what)
		}
		// The answer's page loaded: the next navigation must not cut it off.
		for i := 0; evalJS(t, ctx, `document.title`) != "done"; i++ {
			if i == 50 {
				t.Fatalf("%s: the answer never loaded", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	for _, number := range []string{"+7 495 123-46-10", "(495) 123-46-10"} {
		open()
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), number), chromedp.Sleep(300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		select {
		case form := <-posted:
			t.Fatalf("typing %q sent %q before it was finished", number, form.Get("code"))
		default:
		}
		if v := evalJS(t, ctx, `document.getElementById("cp-code").value`); v != number {
			t.Errorf("typed %q, the field shows %q", number, v)
		}
		if note := evalJS(t, ctx, `document.getElementById("cp-autosend").textContent`); note != Text("en", "code.no_js_autosend") {
			t.Errorf("typing %q: the note says %q", number, note)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
			t.Fatal(err)
		}
		wantPost("typed "+number+", then Confirm", "4610")
	}

	open()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), "46 10")); err != nil {
		t.Fatal(err)
	}
	wantPost("typed 46 10", "4610")

	open()
	evalJS(t, ctx, `(function(){ var el = document.getElementById("cp-code"); el.value = "+74951234610";
		el.dispatchEvent(new InputEvent("input", {inputType: "insertReplacementText", bubbles: true})); return ""; })()`)
	wantPost("autofilled +74951234610", "4610")
}
