package ui

import (
	"html/template"
	"strings"
	"time"
)

// clockUTC is how a message says a clock time without knowing the reader's
// time zone ("22:15:00 UTC"): the text a page without JavaScript shows.
func clockUTC(t time.Time) string {
	return t.UTC().Format("15:04:05") + " UTC"
}

// ClockMarkup returns text, a message Localize worded from ctx, as HTML in
// which the clock time it gives for a "*_at" value of ctx (1060001's
// privileged_session_expires_at: "… before 22:15:00 UTC") is a
// <time data-cp-clock> element. code.js shows that time on the reader's own
// clock (Intl.DateTimeFormat in the browser's time zone): a Russian reader
// had to work out what 22:15 UTC is where they are. Without JavaScript the
// UTC text stays. ok is false when ctx has no such time or text does not
// carry it; the rest of text is escaped.
func ClockMarkup(text string, ctx map[string]any) (template.HTML, bool) {
	for k, v := range ctx {
		s, isString := v.(string)
		if !strings.HasSuffix(k, "_at") || !isString {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			continue
		}
		clock := clockUTC(t)
		before, after, found := strings.Cut(text, clock)
		if !found {
			continue
		}
		return template.HTML(template.HTMLEscapeString(before) + // #nosec G203: every part escaped
			`<time datetime="` + t.UTC().Format(time.RFC3339) + `" data-cp-clock>` + clock + `</time>` +
			template.HTMLEscapeString(after)), true
	}
	return "", false
}
