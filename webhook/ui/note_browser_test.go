package ui

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSendingLeavesTheNoteInBrowser: the note under the field is a polite
// live region about typing. "Confirm", Enter or "Call me again" pressed
// while a code was held for "Confirm" or waited its pause put the note back
// to "The code is checked as soon as you type its last digit": a screen
// reader announced that (untrue: the code had just gone, or a new call was
// asked for) along with "Checking the code…". Sending now leaves the
// note's text as it is and takes it out of sight (and of the accessibility
// tree) until the post is given up.
func TestSendingLeavesTheNoteInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	srv, posted := stepSite{answer: slowly(time.Second)}.start(t) // the answer comes after the page is read

	const confirm = `document.querySelector("[data-cp-submit]").click()`
	const enter = `document.querySelector("[data-cp-form]").requestSubmit()`
	const resend = `document.querySelector("[data-cp-resend]").click()`
	tests := []struct {
		name, typed, note, send, want string
	}{
		{"held, Confirm", "8351", "code.js_hold", confirm, "code 8351"},
		{"held, Enter", "8351", "code.js_hold", enter, "code 8351"},
		{"in the pause, Confirm", "7010", "code.js_pause", confirm, "code 7010"},
		{"in the pause, Call me again", "7010", "code.js_pause", resend, "resend"},
	}
	for _, tt := range tests {
		open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), tt.typed))
		// The changes the note's live region would announce, as the send
		// happens (the post's answer is a second away).
		got := evalJS(t, ctx, `(function () {
			var note = document.getElementById("cp-autosend");
			var o = new MutationObserver(function () {});
			o.observe(note, {childList: true, characterData: true, subtree: true});
			var before = note.textContent;
			`+tt.send+`;
			var changed = o.takeRecords().length > 0 || note.textContent !== before;
			o.disconnect();
			return (changed ? "changed to: " + note.textContent : "unchanged: " + before) +
				(getComputedStyle(note).visibility === "hidden" ? "" : " (in sight)");
		})()`)
		if want := "unchanged: " + Text("en", tt.note); got != want {
			t.Errorf("%s: the note %s, want it %s", tt.name, got, want)
		}
		select {
		case form := <-posted:
			what := "code " + form.Get("code")
			if form.Has("resend") {
				what = "resend"
			}
			if what != tt.want {
				t.Errorf("%s: posted %s, want %s", tt.name, what, tt.want)
			}
		case <-time.After(guard):
			t.Fatalf("%s: nothing posted", tt.name)
		}
		waitForJS(t, ctx, tt.name+": the answer", `document.title === "done"`)
	}
}
