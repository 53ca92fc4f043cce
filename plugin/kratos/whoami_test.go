package kratos

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Kratos v1.3.1 error answers (the 401 is recorded, testdata/whoami_401_v1.3.1.json).
const (
	kratos403 = `{"error":{"id":"session_aal2_required","code":403,"status":"Forbidden","reason":"An active session was found but it does not fulfill the Authenticator Assurance Level, implying that the session must first be upgraded by completing a second factor.","message":"Session does not fulfill the Authenticator Assurance Level"},"redirect_browser_to":"http://127.0.0.1:4455/login?aal=aal2"}`
	kratos500 = `{"error":{"code":500,"status":"Internal Server Error","reason":"sql: database is closed","message":"An internal server error occurred, please contact the system administrator"}}`
	kratos429 = `{"error":{"code":429,"status":"Too Many Requests","message":"Rate limit exceeded"}}`
	kratos400 = `{"error":{"code":400,"status":"Bad Request","reason":"tokenize_as is not configured","message":"The request was malformed or contained invalid parameters"}}`
	html502   = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

// minimal builds a small whoami answer around the given identity member.
func minimal(identity string) string {
	return `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":true,"authenticator_assurance_level":"aal1",
		"authentication_methods":[{"method":"password"}],"identity":` + identity + `}`
}

// TestWhoamiAnswers runs Session against a fake Kratos answering each case:
// the recorded v1.3.1 answer, one with every member Kratos documents (all
// but the ones Session needs are ignored), Kratos's error answers, and
// broken ones.
func TestWhoamiAnswers(t *testing.T) {
	recorded := string(recordedWhoami(t))
	allMembers := string(readTestdata(t, "whoami_v1.3.1_all_members.json"))
	recorded401 := string(readTestdata(t, "whoami_401_v1.3.1.json"))
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        *Session // when the call succeeds
		wantKind    error    // when it fails
		wantErrText string   // part of the error text
	}{
		{name: "recorded v1.3.1", status: 200, body: recorded, want: &Session{
			ID: "b1b6f3eb-311c-47bd-b645-1f7ae87ba40c", IdentityID: "372e90b1-3e64-4c59-ab94-33947d19e151",
			Active: true, AAL: "aal1", Methods: []string{"password"},
			MethodTimes:     []time.Time{at("2026-11-26T01:26:12.061328347Z")},
			AuthenticatedAt: at("2026-11-26T01:26:12.061334929Z"), ExpiresAt: at("2026-11-27T01:26:12.061334929Z"),
			Traits:         map[string]any{"email": "rec@example.org", "phone": "+79161234567"},
			MetadataPublic: map[string]any{"phone_verified_at": "2026-11-25T09:00:00Z", "phone_verified_number": "+79161234567"},
		}},
		{name: "all documented members", status: 200, body: allMembers, want: &Session{
			ID: "8f3c2a4e-7d1b-4c5e-9a2f-1b3c4d5e6f70", IdentityID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
			Active: true, AAL: "aal2", Methods: []string{"password", "oidc", "totp"},
			MethodTimes:     []time.Time{at("2026-11-26T01:26:12.061328347Z"), at("2026-11-26T01:26:13Z"), at("2026-11-26T01:27:00Z")},
			AuthenticatedAt: at("2026-11-26T01:26:12.061334929Z"), ExpiresAt: at("2026-11-27T01:26:12.061334929Z"),
			Traits: map[string]any{
				"email": "all@example.org", "phone": "+79161234567",
				"name":       map[string]any{"first": "Anna", "last": "Petrova"},
				"newsletter": true, "age": json.Number("33"), "tags": []any{"a", "b"},
			},
			MetadataPublic: map[string]any{"phone_verified_at": "2026-11-25T09:00:00Z", "phone_verified_number": "+79161234567", "plan": "gold"},
		}},
		{name: "null metadata_public", status: 200,
			body: minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"phone":"+79001234567"},"metadata_public":null}`),
			want: &Session{ID: "5e1b7b4a-0000-4000-8000-000000000001", IdentityID: "9a1b7b4a-0000-4000-8000-000000000002",
				Active: true, AAL: "aal1", Methods: []string{"password"}, Traits: map[string]any{"phone": "+79001234567"}}},
		{name: "no metadata_public, null traits, inactive, no times", status: 200,
			body: `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":false,"expires_at":null,"identity":{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":null}}`,
			want: &Session{ID: "5e1b7b4a-0000-4000-8000-000000000001", IdentityID: "9a1b7b4a-0000-4000-8000-000000000002"}},

		{name: "401 recorded", status: 401, body: recorded401, wantKind: ErrNoSession, wantErrText: "No valid session credentials"},
		{name: "403 aal2 required", status: 403, body: kratos403, wantKind: ErrForbidden, wantErrText: "session_aal2_required"},
		{name: "403 other", status: 403, body: `{"error":{"id":"security_csrf_violation","code":403,"status":"Forbidden"}}`,
			wantKind: ErrForbidden, wantErrText: "security_csrf_violation"},
		{name: "403 not JSON", status: 403, body: "forbidden\n", contentType: "text/plain", wantKind: ErrForbidden},
		{name: "500", status: 500, body: kratos500, wantKind: ErrUnavailable},
		{name: "429", status: 429, body: kratos429, wantKind: ErrUnavailable},
		{name: "400", status: 400, body: kratos400, wantKind: ErrUnexpected},
		// Not an identity not found: a PublicURL that misses the public API.
		{name: "404", status: 404, body: "404 page not found\n", contentType: "text/plain", wantKind: ErrUnexpected},
		{name: "HTML 502", status: 502, body: html502, contentType: "text/html", wantKind: ErrUnavailable, wantErrText: "502 Bad Gateway"},
		{name: "HTML 200", status: 200, body: html502, contentType: "text/html", wantKind: ErrUnexpected},
		{name: "truncated", status: 200, body: recorded[:len(recorded)/2], wantKind: ErrUnexpected},
		{name: "empty body", status: 200, body: "", wantKind: ErrUnexpected},
		{name: "null body", status: 200, body: "null", wantKind: ErrUnexpected},
		{name: "trailing garbage", status: 200, body: recorded + "}", wantKind: ErrUnexpected},
		{name: "oversized", status: 200, wantKind: ErrUnexpected, wantErrText: "larger than",
			body: minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"blob":"` + strings.Repeat("x", maxWhoamiBody) + `"}}`)},
		{name: "no session id", status: 200, wantKind: ErrUnexpected, wantErrText: "no id",
			body: `{"active":true,"identity":{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{}}}`},
		{name: "missing identity", status: 200, body: `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":true}`,
			wantKind: ErrUnexpected, wantErrText: "no identity"},
		{name: "null identity", status: 200, body: minimal(`null`), wantKind: ErrUnexpected, wantErrText: "no identity"},
		{name: "identity without id", status: 200, body: minimal(`{"traits":{"phone":"+79001234567"}}`),
			wantKind: ErrUnexpected, wantErrText: "identity has no id"},
		{name: "identity without traits", status: 200, body: minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002"}`),
			wantKind: ErrUnexpected, wantErrText: "no traits"},
		{name: "traits a string", status: 200, body: minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":"+79001234567"}`),
			wantKind: ErrUnexpected, wantErrText: "traits: not a JSON object"},
		{name: "traits an array", status: 200, body: minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":[]}`),
			wantKind: ErrUnexpected, wantErrText: "traits: not a JSON object"},
		{name: "metadata_public a number", status: 200, body: minimal(`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{},"metadata_public":1}`),
			wantKind: ErrUnexpected, wantErrText: "metadata_public: not a JSON object"},
		{name: "unknown aal", status: 200, wantKind: ErrUnexpected, wantErrText: "authenticator_assurance_level",
			body: strings.Replace(recorded, `"authenticator_assurance_level":"aal1"`, `"authenticator_assurance_level":"aal9"`, 1)},
		{name: "bad time", status: 200, wantKind: ErrUnexpected,
			body: strings.Replace(recorded, `"expires_at":"2026-11-27T01:26:12.061334929Z"`, `"expires_at":"tomorrow"`, 1)},
		{name: "active not a bool", status: 200, wantKind: ErrUnexpected,
			body: strings.Replace(recorded, `"active":true`, `"active":"yes"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", cmpOr(tt.contentType, "application/json"))
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Session(context.Background(), "", "ory_st_token")
			if tt.want != nil {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("session\n got %#v\nwant %#v", got, tt.want)
				}
				return
			}
			if got != nil || !errors.Is(err, tt.wantKind) {
				t.Fatalf("session %+v, err %v; want kind %v", got, err, tt.wantKind)
			}
			var ke *Error
			if !errors.As(err, &ke) || ke.Op != "whoami" || ke.StatusCode != tt.status {
				t.Fatalf("err %#v: want a whoami *Error with status %d", err, tt.status)
			}
			if !strings.Contains(err.Error(), tt.wantErrText) {
				t.Fatalf("err %q does not mention %q", err, tt.wantErrText)
			}
			// Only Kratos's session_aal2_required says the session waits for
			// its own second factor.
			if aal2 := tt.body == kratos403; errors.Is(err, ErrAAL2Required) != aal2 {
				t.Fatalf("err %v: ErrAAL2Required %v, want %v", err, !aal2, aal2)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestWhoamiRequest checks what Kratos receives: GET /sessions/whoami under
// the public URL's path, the credential in the right header (the session
// token wins when both are given, as in Kratos itself), Accept and User-Agent.
func TestWhoamiRequest(t *testing.T) {
	type seen struct {
		method, path, query, cookie, token, accept, ua string
	}
	got := make(chan seen, 1)
	body := recordedWhoami(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Cookie"), r.Header.Get("X-Session-Token"),
			r.Header.Get("Accept"), r.Header.Get("User-Agent")}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	tests := []struct {
		name, base, cookie, token string
		want                      seen
	}{
		{"token", srv.URL, "", "ory_st_abc", seen{"GET", "/sessions/whoami", "", "", "ory_st_abc", "application/json", "callpass-kratos"}},
		{"cookie", srv.URL + "/", "ory_kratos_session=xyz; other=1", "", seen{"GET", "/sessions/whoami", "", "ory_kratos_session=xyz; other=1", "", "application/json", "callpass-kratos"}},
		{"token wins", srv.URL, "ory_kratos_session=xyz", "ory_st_abc", seen{"GET", "/sessions/whoami", "", "", "ory_st_abc", "application/json", "callpass-kratos"}},
		{"base path", srv.URL + "/.ory/kratos/public/", "", "t", seen{"GET", "/.ory/kratos/public/sessions/whoami", "", "", "t", "application/json", "callpass-kratos"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{PublicURL: tt.base, AdminURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Session(context.Background(), tt.cookie, tt.token); err != nil {
				t.Fatal(err)
			}
			if s := <-got; s != tt.want {
				t.Fatalf("Kratos saw %+v, want %+v", s, tt.want)
			}
		})
	}
}

// TestWhoamiReusesConnections: answers, error answers included, are read to
// the end so that sequential calls share one keep-alive connection.
func TestWhoamiReusesConnections(t *testing.T) {
	body := recordedWhoami(t)
	var status atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if s := int(status.Load()); s != 200 {
			w.WriteHeader(s)
			_, _ = w.Write([]byte(kratos403))
			return
		}
		_, _ = w.Write(body)
	}))
	conns := startCounting(t, srv)
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range []int32{200, 200, 403, 401, 200, 500, 200} {
		status.Store(st)
		if _, err := c.Session(context.Background(), "", "t"); (err == nil) != (st == 200) {
			t.Fatalf("call %d (HTTP %d): err %v", i, st, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("7 sequential whoami calls opened %d connections, want 1", n)
	}
}

// TestDefaultTransportKeepsIdleConnections: with the default transport,
// rounds of concurrent whoami calls reuse the connections of the previous
// round instead of keeping only 2 and opening the rest again.
func TestDefaultTransportKeepsIdleConnections(t *testing.T) {
	const parallel, rounds = 16, 3
	body := recordedWhoami(t)
	type barrier struct{ wg sync.WaitGroup }
	var cur atomic.Pointer[barrier]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hold each answer until the whole round has arrived, so that a
		// round needs `parallel` connections at once.
		b := cur.Load()
		b.wg.Done()
		done := make(chan struct{})
		go func() { b.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	conns := startCounting(t, srv)
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if tr, ok := c.hc.Transport.(*http.Transport); !ok || tr.MaxIdleConnsPerHost < 64 {
		t.Fatalf("default transport %#v: want MaxIdleConnsPerHost >= 64", c.hc.Transport)
	}
	for range rounds {
		b := &barrier{}
		b.wg.Add(parallel)
		cur.Store(b)
		var wg sync.WaitGroup
		errs := make(chan error, parallel)
		for range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Session(context.Background(), "", "t"); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// Exactly `parallel` when every connection is reused; a little slack for
	// a connection dialed while another was on its way back to the pool.
	// With net/http's default of 2 idle connections this is about 44.
	if n := conns.Load(); n > parallel+parallel/2 {
		t.Fatalf("%d rounds of %d concurrent calls opened %d connections", rounds, parallel, n)
	}
}

// TestWhoamiCutOffAnswer: an answer whose body breaks off (Kratos or a proxy
// dying mid-answer) is an availability problem, not an unexpected answer.
func TestWhoamiCutOffAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "5000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"id":"5e1b7b4a-`))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Session(context.Background(), "", "token")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
}

// startCounting starts srv (closed when the test ends) and counts the
// connections it accepts.
func startCounting(t *testing.T, srv *httptest.Server) *atomic.Int64 {
	t.Helper()
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &conns
}
