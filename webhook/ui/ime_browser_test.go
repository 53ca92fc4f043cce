package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestOtherDigitsInBrowser: digits typed through an IME (a Japanese or
// Chinese one types fullwidth "４６１０" by default, composing them) or on
// a keyboard of another script (Arabic-Indic "٤٦١٠") read as the code's
// digits. code.js cut them as non-digits: the field was emptied at every
// key (the composition broken with it) and nothing could be typed or sent
// (the server and the field's pattern take ASCII digits only). Now they go
// as ASCII digits by the usual rules, and a composition is left alone
// until it ends.
func TestOtherDigitsInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)

	// An Android keyboard may compose a word of digits and end it only at
	// a space, Enter or a blur: ASCII digits are read as they come.
	// A typing command that fails or hangs (keyGuard) ends the typing: a
	// key may have started the post, and what was posted is checked below.
	composeOnly := func(text string) (typed bool) {
		t.Helper()
		so := ""
		for _, r := range text {
			so += string(r)
			if err := setComposition(ctx, so); err != nil {
				t.Logf("composing %q: %v (the page leaving?)", so, err)
				return false
			}
		}
		return true
	}
	compose := func(text string) {
		t.Helper()
		if !composeOnly(text) {
			return
		}
		// ASCII digits are read as they come, so a composed ASCII code may
		// have gone (the page leaving) before the composition ends: then
		// there is no field to read, and what was posted is checked below.
		v := evalJS(t, ctx, `(function () { var f = document.getElementById("cp-code"); return f ? f.value : "<sent>"; })()`)
		if v == "<sent>" {
			return
		}
		if v != text {
			t.Errorf("composing %q: the field shows %q", text, v)
		}
		if err := insertText(ctx, text); err != nil { // commits it
			t.Logf("committing %q: %v (the page leaving?)", text, err)
		}
	}
	keys := func(text string) {
		t.Helper()
		for _, r := range text {
			if err := insertText(ctx, string(r)); err != nil {
				t.Logf("typing %q: %v (the page leaving?)", r, err)
				return
			}
		}
	}

	tests := []struct {
		name    string
		typeIt  func(string)
		text    string
		confirm bool // held for "Confirm": a number's group ends there, or a number
		want    string
	}{
		{"fullwidth code composed", compose, "４６１０", false, "4610"},
		{"ASCII code composed", compose, "1234", false, "1234"},
		{"ASCII code left composing", func(text string) { composeOnly(text) }, "1234", false, "1234"},
		{"fullwidth number composed", compose, "＋７ ４９５ １２３－４６－１０", true, "4610"}, // typed on past N: a number
		{"Arabic-Indic code typed", keys, "١٢٥٦", false, "1256"},
		{"fullwidth number start typed", keys, "８４９５", true, "8495"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/", chromedp.Focus(chromedp.CSS("#cp-code")))
		tt.typeIt(tt.text)
		if tt.confirm {
			noPostFor(t, ctx, posted, 2500*time.Millisecond, fmt.Sprintf("%s: sent without Confirm", tt.name)) // longer than PAUSE: held, no timer sends it
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, ctx, posted, tt.name, tt.want)
	}
}
