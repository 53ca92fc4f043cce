package ui

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTypingALocalNumberInBrowser pins what code.js's comment at
// numberStart says of a 7-digit local number typed without separators: one
// beginning with a digit a code waits the pause for ("4234610") is caught
// by it and goes, with "Confirm", as its last digits; one beginning with
// another digit ("1234610") goes as its first four, the price of sending
// half of all codes at their last digit.
func TestTypingALocalNumberInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := codeStepServer(t)
	tests := []struct {
		typed, want string
		confirm     bool
	}{
		{"4234610", "4610", true},
		{"1234610", "1234", false},
	}
	for _, tt := range tests {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-code")),
			chromedp.Focus(chromedp.CSS("#cp-code"))); err != nil {
			t.Fatal(err)
		}
		for _, r := range tt.typed {
			// Keys of a page already leaving (the code sent) fail: then what
			// was posted is checked below.
			if err := insertText(ctx, string(r)); err != nil {
				break
			}
		}
		if tt.confirm {
			select { // longer than PAUSE: held, no timer sends it
			case form := <-posted:
				t.Fatalf("%s: sent %q without Confirm", tt.typed, form.Get("code"))
			case <-time.After(2500 * time.Millisecond):
			}
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case form := <-posted:
			if form.Get("code") != tt.want {
				t.Errorf("%s: posted %q, want %q", tt.typed, form.Get("code"), tt.want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: nothing posted", tt.typed)
		}
		waitForJS(t, ctx, "the answer", `document.title === "done"`)
	}
}
