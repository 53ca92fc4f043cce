package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKratosEnglishFallbackMarkedEnglish: a Kratos message this UI cannot
// say in Russian (an id or a reason it does not know) is shown as Kratos
// wrote it, in English; on a Russian page (html lang="ru") a screen reader
// read it with Russian pronunciation rules, garbled. The fallback now
// carries lang="en" on a Russian page; a message said in the page's own
// language carries none.
func TestKratosEnglishFallbackMarkedEnglish(t *testing.T) {
	// 4000001 with a reason nobody words here: Kratos's English is shown.
	fixture := badPasswordFlowWith(t, `"id": 4000001, "context": {"reason": "a reason Kratos wrote itself"},`,
		`"text": "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number."`,
		`"text": "a reason Kratos wrote itself"`)

	tests := []struct {
		fixture, lang, want string
	}{
		{fixture, "ru", `<li class="cp-msg-error" lang="en">a reason Kratos wrote itself</li>`},
		{fixture, "en", `<li class="cp-msg-error">a reason Kratos wrote itself</li>`},
		{"testdata/login_flow_bad_password.json", "ru", `<li class="cp-msg-error">Неверные учётные данные.`},
	}
	for _, tt := range tests {
		hs := newHarness(t)
		hs.fake.loginFixture = tt.fixture
		body := hs.do("GET", "/login?flow="+loginFlowID+"&lang="+tt.lang, nil).Body.String()
		if !strings.Contains(body, tt.want) {
			i := strings.Index(body, "cp-msg-error")
			t.Errorf("%s page of %s: no %q in %q", tt.lang, filepath.Base(tt.fixture), tt.want, body[max(i-20, 0):min(i+200, len(body))])
		}
	}
}

// badPasswordFlowWith is testdata/login_flow_bad_password.json with its
// message 4000006 replaced by message (its id and context members), and each
// following pair of strings old, new replaced too, written to a file of the
// test's own: its path.
func badPasswordFlowWith(t *testing.T, message string, replacements ...string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/login_flow_bad_password.json")
	if err != nil {
		t.Fatal(err)
	}
	const known = `"id": 4000006,`
	if !strings.Contains(string(b), known) {
		t.Fatal("the fixture changed: no 4000006")
	}
	flow := strings.Replace(string(b), known, message, 1)
	for i := 0; i+1 < len(replacements); i += 2 {
		flow = strings.Replace(flow, replacements[i], replacements[i+1], 1)
	}
	fixture := filepath.Join(t.TempDir(), "login_flow.json")
	if err := os.WriteFile(fixture, []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	return fixture
}
