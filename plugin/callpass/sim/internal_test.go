package sim

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNormalizeDN(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"79001234567", "79001234567", true},
		{"+7 (900) 123-45-67", "79001234567", true},
		{"89001234567", "79001234567", true},
		{"8 900 123 45 67", "79001234567", true},
		{"9001234567", "9001234567", false},
		{"", "", false},
		{"790012345678901", "790012345678901", true},
		{"7900123456789012", "7900123456789012", false},
		{"19001234567", "19001234567", false},
	}
	for _, tc := range tests {
		got, ok := normalizeDN(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalizeDN(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFormatAndHighlight(t *testing.T) {
	if got := formatNumber("74951234610"); got != "+7 495 123-46-10" {
		t.Errorf("formatNumber = %q", got)
	}
	if got := formatNumber("7495123461"); got != "+7495123461" {
		t.Errorf("formatNumber(short) = %q", got)
	}
	render := func(parts []numberPart) string {
		var b strings.Builder
		for _, p := range parts {
			if p.Hi {
				b.WriteString("[" + string(p.Text) + "]")
			} else {
				b.WriteString(string(p.Text))
			}
		}
		return b.String()
	}
	tests := []struct {
		n    int
		want string
	}{
		{4, "+7 495 123-[46-10]"},
		{5, "+7 495 12[3-46-10]"},
		{7, "+7 495 [123-46-10]"},
	}
	for _, tc := range tests {
		if got := render(highlight("74951234610", tc.n)); got != tc.want {
			t.Errorf("highlight(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestMaskDN(t *testing.T) {
	if got := maskDN("79001234567"); got != "7900*****67" {
		t.Errorf("maskDN = %q", got)
	}
	if got := maskDN("123"); got != "***" {
		t.Errorf("maskDN(short) = %q", got)
	}
}

// fakeClock is a settable clock for the async settle rule.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestAsyncSettlesByClock(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := New(Config{Tokens: []string{strings.Repeat("a", 32)}, SettleDelay: 10 * time.Second, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.place("79001234567", 3, 5, true, OutcomeAnswered)
	if err != nil {
		t.Fatal(err)
	}
	id := c.rec.CallID
	steps := []struct {
		advance time.Duration
		status  string
	}{
		{0, "null"},
		{9 * time.Second, "null"},
		{time.Second, "NORMAL_CLEARING"},
		{time.Hour, "NORMAL_CLEARING"},
	}
	for i, st := range steps {
		clk.Add(st.advance)
		rec, ok := s.Call(id)
		if !ok || rec.Status != st.status {
			t.Fatalf("step %d: %+v", i, rec)
		}
		if st.status != "null" && !rec.SettledAt.Equal(rec.CreatedAt.Add(10*time.Second)) {
			t.Errorf("step %d: settled at %s", i, rec.SettledAt)
		}
	}
}

// TestLogsHideSecrets checks that no log line carries the full destination
// number, the calling number (it contains the code) or the token.
func TestLogsHideSecrets(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	tok := strings.Repeat("b", 32)
	s, err := New(Config{Tokens: []string{tok}, SettleDelay: time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	send := func(path, body, auth string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+auth)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send("/api/v1.0/start-call-password/", "dn=79001234567&timeout=2", tok)
	send("/api/v1.0/start-call-password/", "dn=79001234567&timeout=2", strings.Repeat("c", 32))
	calls := s.Calls("")
	send("/api/v2.0/get-call-password-status/", "callid="+calls[0].CallID, tok)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "call placed") || !strings.Contains(out, "7900*****67") {
		t.Fatalf("expected log lines missing:\n%s", out)
	}
	for _, secret := range []string{"79001234567", calls[0].Caller, calls[0].Caller[4:], tok, strings.Repeat("c", 32)} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestStatusLabel(t *testing.T) {
	for status, delivered := range map[string]bool{
		"null": true, "NO_ANSWER": true, "NORMAL_CLEARING": true, "USER_BUSY": true, "success": true,
		// Declined by the user: the number was shown.
		"CALL_REJECTED":     true,
		"SUBSCRIBER_ABSENT": false, "SOMETHING_NEW": false,
	} {
		if label, _, got := statusLabel(status); got != delivered || label == "" {
			t.Errorf("statusLabel(%q) = %q delivered %v, want delivered %v", status, label, got, delivered)
		}
	}
}
