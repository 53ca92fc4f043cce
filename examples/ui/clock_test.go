package main

import (
	"strings"
	"testing"
)

// TestRecoveredUntilMarkedAsClock: 1060001's time ("change your password
// before …") was plain text in UTC, so the page could not show it on the
// reader's clock. It is now a <time data-cp-clock> element code.js rewrites
// in the browser's time zone (TestRecoveredUntilLocalTimeInBrowser), with
// the UTC text inside for a browser without JavaScript; the rest of the
// message is escaped as before.
func TestRecoveredUntilMarkedAsClock(t *testing.T) {
	fixture := badPasswordFlowWith(t, `"id": 1060001, "context": {"privileged_session_expires_at": "2026-11-27T22:15:00.123456Z"},`)
	for lang, want := range map[string]string{
		"ru": `Смените пароль или настройте другой способ входа до <time datetime="2026-11-27T22:15:00Z" data-cp-clock>22:15:00 UTC</time>.</li>`,
		"en": `(e.g. social sign in) before <time datetime="2026-11-27T22:15:00Z" data-cp-clock>22:15:00 UTC</time>.</li>`,
	} {
		hs := newHarness(t)
		hs.fake.loginFixture = fixture
		body := hs.do("GET", "/login?flow="+loginFlowID+"&lang="+lang, nil).Body.String()
		if !strings.Contains(body, want) {
			i := strings.Index(body, "cp-msg-error")
			t.Errorf("%s: no %q in %q", lang, want, body[max(i-20, 0):min(i+300, len(body))])
		}
	}
}
