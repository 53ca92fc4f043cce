package monitoring_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHookDecisionsCountEveryAnswer: every answer a Kratos login hook gets
// is counted once in callpass_hook_decisions_total, under the decision
// operations.md names for it. A body over the 64 KiB limit or one that could
// not be read was answered 400 by the body limiter before the hook ran and
// counted nowhere, so the dashboard's hook panel and the documented
// decisions query missed them.
func TestHookDecisionsCountEveryAnswer(t *testing.T) {
	s := startService(t, nil)
	big := bytes.Repeat([]byte("x"), 65<<10)
	var u *user // the user of a code entry, its call started in prep
	started := func() { u = newUser(); s.start(u, msgCalling) }
	tests := []struct {
		name   string
		prep   func()     // before the first scrape
		run    func() int // the answer's status
		status int
		want   string // the decision; a trailing '_' matches any suffix
	}{
		{"challenge", nil, func() int { st, _ := s.hook(newUser(), "", hookSecret); return st }, 400, "challenge"},
		{"wrong code", started, func() int { st, _ := s.hook(u, wrongCode(s.code(u)), hookSecret); return st }, 400, "refused_"},
		{"right code", started, func() int { st, _ := s.hook(u, s.code(u), hookSecret); return st }, 200, "allow"},
		{"wrong secret", nil, func() int { st, _ := s.hook(newUser(), "", "not-the-secret"); return st }, 401, "unauthorized"},
		{"not JSON", nil, func() int { return s.rawHook(strings.NewReader("{"), 1, "application/json") }, 400, "bad_request"},
		{"not application/json", nil, func() int {
			return s.rawHook(bytes.NewReader(newUser().body("")), -2, "text/plain")
		}, 400, "bad_request"},
		{"body over the limit, declared", nil, func() int { return s.rawHook(bytes.NewReader(big), int64(len(big)), "application/json") }, 400, "bad_request"},
		{"body over the limit, chunked", nil, func() int { return s.rawHook(bytes.NewReader(big), -1, "application/json") }, 400, "bad_request"},
		{"body cut short", nil, s.truncatedHook, 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prep != nil {
				tt.prep()
			}
			before := s.scrape()
			if st := tt.run(); st != tt.status {
				t.Fatalf("answered %d, want %d", st, tt.status)
			}
			after := s.scrape()
			var total float64
			grew := map[string]float64{}
			for series := range after {
				const prefix = `callpass_hook_decisions_total{decision="`
				if !strings.HasPrefix(series, prefix) || !strings.HasSuffix(series, `",hook="login"}`) {
					continue
				}
				d := strings.TrimSuffix(strings.TrimPrefix(series, prefix), `",hook="login"}`)
				if n := delta(before, after, series); n != 0 {
					grew[d] = n
					total += n
				}
			}
			matched := 0.0
			for d, n := range grew {
				if d == tt.want || (strings.HasSuffix(tt.want, "_") && strings.HasPrefix(d, tt.want)) {
					matched += n
				}
			}
			if total != 1 || matched != 1 {
				t.Errorf("decisions grew by %v, want %s counted once", grew, tt.want)
			}
		})
	}
}

// rawHook posts body to the login hook with the right secret: length is
// the declared Content-Length, -1 to send it chunked (no length), -2 for
// the body's own length.
func (s *service) rawHook(body io.Reader, length int64, contentType string) int {
	s.t.Helper()
	if length == -1 {
		body = io.MultiReader(body) // hides the length: sent chunked
	}
	req, err := http.NewRequest(http.MethodPost, s.url+"/hooks/kratos/login", body)
	if err != nil {
		s.t.Fatal(err)
	}
	if length >= 0 {
		req.ContentLength = length
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+hookSecret)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("login hook: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// truncatedHook sends a login hook request whose body ends before its
// Content-Length (a client or proxy gone mid-body) and reads the answer.
func (s *service) truncatedHook() int {
	s.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	body := newUser().body("")
	head := "POST /hooks/kratos/login HTTP/1.1\r\nHost: callpass\r\nContent-Type: application/json\r\n" +
		"Authorization: Bearer " + hookSecret + "\r\nContent-Length: 100000\r\n\r\n"
	if _, err := conn.Write(append([]byte(head), body[:len(body)/2]...)); err != nil {
		s.t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		s.t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
