package ui

import (
	"bytes"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestRecoveredUntilLocalTimeInBrowser: 1060001 ("change your password
// before …") gave its time in UTC, "до 22:15:00 UTC" on a Russian page: the
// reader had to work out their own time. With JavaScript the page now shows
// it on the reader's clock (the browser's time zone, here emulated), in the
// page's language; the server's UTC text is in the page for a browser
// without it.
func TestRecoveredUntilLocalTimeInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	msk, ist := time.FixedZone("MSK", 3*3600), time.FixedZone("IST", 5*3600+1800)
	// A time on today's date in both zones, so neither names a day.
	at := now.Add(10 * time.Minute)
	if at.In(msk).Day() != now.In(msk).Day() || at.In(ist).Day() != now.In(ist).Day() {
		at = now.Add(-10 * time.Minute)
	}
	at = at.Truncate(time.Second).Add(42 * time.Second) // seconds the page leaves out
	ctxMsg := map[string]any{"privileged_session_expires_at": at.Format(time.RFC3339Nano)}

	mux := http.NewServeMux()
	mux.Handle(r.AssetPrefix(), r.Assets())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		lang := req.URL.Query().Get("lang")
		body, ok := ClockMarkup(Localize(lang, 1060001, ctxMsg), ctxMsg)
		if !ok {
			t.Errorf("%s: no clock in %q", lang, Localize(lang, 1060001, ctxMsg))
		}
		var b bytes.Buffer
		_ = r.Page(&b, PageData{Title: "t", Lang: lang, Body: template.HTML(`<p id="m">`) + body + template.HTML(`</p>`)})
		_, _ = w.Write(b.Bytes())
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		zone, lang, want string
	}{
		{"Europe/Moscow", "ru", "Смените пароль или настройте другой способ входа до " + at.In(msk).Format("15:04") + "."},
		{"Asia/Kolkata", "ru", "до " + at.In(ist).Format("15:04") + "."},
		{"Asia/Kolkata", "en", "before " + at.In(ist).Format("03:04 PM") + "."},
	}
	for _, tt := range tests {
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: tt.zone}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?lang="+tt.lang), chromedp.WaitVisible(chromedp.CSS("#m"))); err != nil {
			t.Fatal(err)
		}
		waitForJS(t, ctx, "the local time", `!document.getElementById("m").textContent.includes("UTC")`)
		// ICU writes a narrow no-break space before "PM".
		got := strings.ReplaceAll(evalJS(t, ctx, `document.getElementById("m").textContent`), "\u202f", " ")
		if !strings.HasSuffix(got, tt.want) {
			t.Errorf("%s %s: the page says %q, want it to end %q", tt.zone, tt.lang, got, tt.want)
		}
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{}); err != nil { // the next override replaces it
			t.Fatal(err)
		}
	}
}
