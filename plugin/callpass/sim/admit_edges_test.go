package sim_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

// TestAdmitEdges pins transport rules at their edges: the body limit to the
// byte, every line-break and tab character, the UTF-8 check of the raw body
// coming before the other body rules, and the charset parameter compared
// without regard to case.
func TestAdmitEdges(t *testing.T) {
	t.Parallel()
	const path = "/api/v2.0/start-call-password/"
	good := "dn=" + dn + "&timeout=2&async=1"
	pad := func(n int) string { // good, padded to n bytes
		return good + "&x=" + strings.Repeat("a", n-len(good)-3)
	}
	refused := func(msg string) string { return fmt.Sprintf(`{"message":%q,"status":"error"}`, msg) }
	tests := []struct {
		name string
		body string
		mut  func(*http.Request)
		code int
		want string // whole body when refused; "" for an accepted start
	}{
		{"body at the limit", pad(4 << 10), nil, 200, ""},
		{"body one byte over", pad(4<<10 + 1), nil, 413, refused("request body is too large")},
		{"tab", good + "&x=a\tb", nil, 400, refused("request body must not contain spaces or line breaks")},
		{"carriage return", good + "\r", nil, 400, refused("request body must not contain spaces or line breaks")},
		{"not utf-8 before bad escape", good + "&x=\xff%zz", nil, 400, refused("request body must be UTF-8")},
		{"not utf-8 before spaces", good + "&x=\xff b", nil, 400, refused("request body must be UTF-8")},
		{"upper-case charset", good, func(r *http.Request) { r.Header.Set("Content-Type", formCT+"; charset=UTF-8") }, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, srv := newSim(t, nil)
			r := post(t, srv, path, tc.body, tc.mut)
			if r.code != tc.code {
				t.Fatalf("got %d %s, want %d", r.code, r.body, tc.code)
			}
			calls := len(s.Calls(""))
			if tc.want != "" {
				if r.body != tc.want || calls != 0 {
					t.Errorf("got %s with %d calls, want %s and none", r.body, calls, tc.want)
				}
			} else if e := decode(t, r); e.Status != "success" || calls != 1 {
				t.Errorf("got %s with %d calls, want an accepted start", r.body, calls)
			}
		})
	}
}

// serveDirect sends req straight to the simulator's handler, for what a
// real connection cannot produce on demand (a peer address, a failed read).
func serveDirect(t *testing.T, mut func(*sim.Config), req *http.Request) (*sim.Simulator, *httptest.ResponseRecorder) {
	t.Helper()
	s, _ := newSim(t, mut)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", formCT)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return s, rec
}

// TestAllowListIPv4MappedPeer: a dual-stack listener may report an IPv4
// peer as ::ffff:a.b.c.d; the allow-list compares the IPv4 address.
func TestAllowListIPv4MappedPeer(t *testing.T) {
	t.Parallel()
	body := "dn=" + dn + "&timeout=2&async=1"
	req := httptest.NewRequest(http.MethodPost, "/api/v3.0/start-call-password/", strings.NewReader(body))
	req.RemoteAddr = "[::ffff:127.0.0.1]:40000"
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	_, rec := serveDirect(t, func(c *sim.Config) { c.AllowedIPs = []string{"127.0.0.1"} }, req)
	if rec.Code != http.StatusOK {
		t.Errorf("got %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestBodyReadErrorRefused: a body that fails to read in full (the client
// went away mid-body) is refused, even when what was read parses as a
// complete request: no call is placed from a truncated body.
func TestBodyReadErrorRefused(t *testing.T) {
	t.Parallel()
	partial := "dn=" + dn + "&timeout=2&async=1"
	req := httptest.NewRequest(http.MethodPost, "/api/v3.0/start-call-password/",
		io.MultiReader(strings.NewReader(partial), iotest.ErrReader(io.ErrUnexpectedEOF)))
	req.ContentLength = int64(len(partial) + 10)
	req.Header.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	s, rec := serveDirect(t, nil, req)
	want := `{"message":"malformed request body","status":"error"}`
	if rec.Code != http.StatusBadRequest || rec.Body.String() != want {
		t.Errorf("got %d %s, want 400 %s", rec.Code, rec.Body, want)
	}
	if n := len(s.Calls("")); n != 0 {
		t.Errorf("%d calls placed from a truncated body", n)
	}
}
