package sim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

const (
	token  = "0123456789abcdef0123456789abcdef"
	token2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dn     = "79001234567"
	formCT = "application/x-www-form-urlencoded"
)

func newSim(t *testing.T, mut func(*sim.Config)) (*sim.Simulator, *httptest.Server) {
	t.Helper()
	cfg := sim.Config{Tokens: []string{token, token2}, SettleDelay: 50 * time.Millisecond}
	if mut != nil {
		mut(&cfg)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		_ = s.Close()
		srv.Close()
	})
	return s, srv
}

type reply struct {
	code int
	ct   string
	body string
}

// post sends a provider API request the way the document describes.
func post(t *testing.T, srv *httptest.Server, path, body string, mut func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", formCT)
	if mut != nil {
		mut(req)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

type apiData struct {
	CallID  string `json:"callid"`
	Pin     string `json:"pin"`
	Phone   string `json:"phone"`
	Result  string `json:"result"`
	Message string `json:"message"`
}

type apiEnvelope struct {
	Status  string   `json:"status"`
	Message string   `json:"message"`
	Data    *apiData `json:"data"`
}

func decode(t *testing.T, r reply) apiEnvelope {
	t.Helper()
	if !strings.HasPrefix(r.ct, "application/json") {
		t.Fatalf("content type %q, body %s", r.ct, r.body)
	}
	var e apiEnvelope
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return e
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestStartRoutesEveryVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path      string
		body      string
		version   int
		wantField string // "pin" or "phone"
		codeLen   int
		result    string
	}{
		{"/api/v1.0/start-call-password/", "dn=" + dn + "&timeout=5", 1, "pin", 4, "NO_ANSWER"},
		{"/api/v1.0/start-call-password", "dn=" + dn + "&timeout=5", 1, "pin", 4, "NO_ANSWER"},
		{"/api/v1.0/start-call-password/", "dn=" + dn + "&timeout=5&async=1", 1, "pin", 4, "NO_ANSWER"}, // v1 ignores async
		{"/api/v2.0/start-call-password/", "dn=" + dn + "&timeout=5&async=0", 2, "phone", 4, "NO_ANSWER"},
		{"/api/v2.0/start-call-password", "dn=" + dn + "&timeout=5", 2, "phone", 4, "NO_ANSWER"},
		{"/api/v2.0/start-call-password/", "dn=" + dn + "&timeout=5&async=1", 2, "phone", 4, "null"},
		{"/api/v3.0/start-call-password/", "dn=" + dn + "&timeout=5&async=0", 3, "phone", 7, "NO_ANSWER"},
		{"/api/v3.0/start-call-password", "dn=" + dn + "&timeout=5&async=1", 3, "phone", 7, "null"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s?%s", tc.path, tc.body), func(t *testing.T) {
			t.Parallel()
			s, srv := newSim(t, nil)
			r := post(t, srv, tc.path, tc.body, nil)
			if r.code != http.StatusOK || r.ct != "application/json; charset=utf-8" {
				t.Fatalf("got %d %q %s", r.code, r.ct, r.body)
			}
			// The field the document shows, and not the other one.
			var raw struct{ Data map[string]any }
			if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
				t.Fatal(err)
			}
			other := map[string]string{"pin": "phone", "phone": "pin"}[tc.wantField]
			if _, ok := raw.Data[other]; ok {
				t.Errorf("data has %q: %s", other, r.body)
			}
			e := decode(t, r)
			d := e.Data
			if e.Status != "success" || d == nil || d.Result != tc.result || !uuidRE.MatchString(d.CallID) {
				t.Fatalf("body %s", r.body)
			}
			code := d.Pin + d.Phone
			calls := s.Calls(dn)
			if len(calls) != 1 {
				t.Fatalf("calls = %d", len(calls))
			}
			c := calls[0]
			if len(code) != tc.codeLen || !strings.HasSuffix(c.Caller, code) {
				t.Errorf("code %q does not end caller %q (want %d digits)", code, c.Caller, tc.codeLen)
			}
			if c.CallID != d.CallID || c.APIVersion != tc.version || c.DN != dn || c.Code4 != c.Caller[7:] ||
				!strings.HasPrefix(c.Caller, "7495") || len(c.Caller) != 11 {
				t.Errorf("record %+v", c)
			}
			if s.Requests(dn) != 1 {
				t.Errorf("requests = %d", s.Requests(dn))
			}
		})
	}
}

func TestSampleFieldOrder(t *testing.T) {
	t.Parallel()
	_, srv := newSim(t, nil)
	r := post(t, srv, "/api/v2.0/start-call-password/", "dn="+dn+"&timeout=5&async=1", nil)
	re := regexp.MustCompile(`^\{"data":\{"callid":"[0-9a-f-]{36}","phone":"\d{4}","result":"null"\},"status":"success"\}$`)
	if !re.MatchString(r.body) {
		t.Errorf("body %s does not match the v2 sample's shape", r.body)
	}
	r = post(t, srv, "/api/v1.0/start-call-password/", "dn="+dn+"&timeout=2", nil)
	re = regexp.MustCompile(`^\{"data":\{"callid":"[0-9a-f-]{36}","pin":"\d{4}","result":"NO_ANSWER"\},"status":"success"\}$`)
	if !re.MatchString(r.body) {
		t.Errorf("body %s does not match the v1 sample's shape", r.body)
	}
}

func TestAsyncThenStatus(t *testing.T) {
	t.Parallel()
	paths := map[int][]string{
		2: {"/api/v2.0/get-call-password-status", "/api/v2.0/get-call-password-status/"},
		3: {"/api/v3.0/get-call-password-status", "/api/v3.0/get-call-password-status/"},
	}
	for v, ps := range paths {
		for _, p := range ps {
			for _, param := range []string{"callid", "callId"} {
				t.Run(fmt.Sprintf("v%d %s %s", v, p, param), func(t *testing.T) {
					t.Parallel()
					s, srv := newSim(t, func(c *sim.Config) { c.SettleDelay = 150 * time.Millisecond })
					s.Script(dn, sim.OutcomeBusy)
					start := decode(t, post(t, srv, fmt.Sprintf("/api/v%d.0/start-call-password/", v), "dn="+dn+"&timeout=5&async=1", nil))
					if start.Data.Result != "null" {
						t.Fatalf("async start result %q", start.Data.Result)
					}
					id := start.Data.CallID
					st := post(t, srv, p, param+"="+id, nil)
					want := `{"data":{"callid":"` + id + `","result":"null"},"status":"success"}`
					if st.code != 200 || st.body != want {
						t.Fatalf("pending status: %d %s", st.code, st.body)
					}
					if got := s.Calls(dn)[0]; got.Status != "null" || !got.SettledAt.IsZero() {
						t.Errorf("record before settle: %+v", got)
					}
					time.Sleep(200 * time.Millisecond)
					st = post(t, srv, p, param+"="+id, nil)
					want = `{"data":{"callid":"` + id + `","result":"USER_BUSY"},"status":"success"}`
					if st.code != 200 || st.body != want {
						t.Fatalf("settled status: %d %s", st.code, st.body)
					}
					if got := s.Calls(dn)[0]; got.Status != "USER_BUSY" || got.SettledAt.IsZero() {
						t.Errorf("record after settle: %+v", got)
					}
				})
			}
		}
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	_, srv := newSim(t, nil)
	tests := []struct {
		body string
		code int
		want string
	}{
		{"callid=4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d", 200, `{"data":{"message":"can't find callid","result":"error"},"status":"success"}`},
		{"callId=nope", 200, `{"data":{"message":"can't find callid","result":"error"},"status":"success"}`},
		{"", 400, `{"message":"callid is required","status":"error"}`},
		{"callid=", 400, `{"message":"callid is required","status":"error"}`},
	}
	for _, tc := range tests {
		r := post(t, srv, "/api/v2.0/get-call-password-status/", tc.body, nil)
		if r.code != tc.code || r.body != tc.want {
			t.Errorf("%q: got %d %s, want %d %s", tc.body, r.code, r.body, tc.code, tc.want)
		}
	}
}

func TestTransportRules(t *testing.T) {
	t.Parallel()
	good := "dn=" + dn + "&timeout=2&async=1"
	tests := []struct {
		name string
		path string
		body string
		mut  func(*http.Request)
		code int
		msg  string
	}{
		{"no auth", "/api/v2.0/start-call-password/", good, func(r *http.Request) { r.Header.Del("Authorization") }, 401, "authorization required: Authorization: Bearer <token>"},
		{"basic auth", "/api/v2.0/start-call-password/", good, func(r *http.Request) { r.SetBasicAuth("u", "p") }, 401, "authorization required: Authorization: Bearer <token>"},
		{"wrong token", "/api/v2.0/start-call-password/", good, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer ffffffffffffffffffffffffffffffff")
		}, 401, "invalid token"},
		{"upper-case token", "/api/v2.0/start-call-password/", good, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+strings.ToUpper(token))
		}, 401, "invalid token"},
		{"token prefix", "/api/v2.0/start-call-password/", good, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+token[:31])
		}, 401, "invalid token"},
		{"status no auth", "/api/v3.0/get-call-password-status/", "callid=x", func(r *http.Request) { r.Header.Del("Authorization") }, 401, "authorization required: Authorization: Bearer <token>"},
		{"GET", "/api/v1.0/start-call-password/", "", func(r *http.Request) { r.Method = http.MethodGet }, 405, "method not allowed, use POST"},
		{"PUT status", "/api/v2.0/get-call-password-status", "callid=x", func(r *http.Request) { r.Method = http.MethodPut }, 405, "method not allowed, use POST"},
		{"json body", "/api/v2.0/start-call-password/", `{"dn":"79001234567"}`, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, 415, "Content-Type must be application/x-www-form-urlencoded"},
		{"no content type", "/api/v2.0/start-call-password/", good, func(r *http.Request) { r.Header.Del("Content-Type") }, 415, "Content-Type must be application/x-www-form-urlencoded"},
		{"latin1 charset", "/api/v2.0/start-call-password/", good, func(r *http.Request) { r.Header.Set("Content-Type", formCT+"; charset=iso-8859-1") }, 415, "request body must be UTF-8"},
		{"chunked", "/api/v2.0/start-call-password/", good, func(r *http.Request) {
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(good))
		}, 411, "Content-Length header is required"},
		{"too large", "/api/v2.0/start-call-password/", good + "&x=" + strings.Repeat("a", 5000), nil, 413, "request body is too large"},
		{"not utf-8", "/api/v2.0/start-call-password/", good + "&x=\xff\xfe", nil, 400, "request body must be UTF-8"},
		{"percent-encoded not utf-8", "/api/v2.0/start-call-password/", good + "&x=%ff", nil, 400, "request body must be UTF-8"},
		{"spaces", "/api/v2.0/start-call-password/", good + "&x=a b", nil, 400, "request body must not contain spaces or line breaks"},
		{"line break", "/api/v2.0/start-call-password/", good + "\n", nil, 400, "request body must not contain spaces or line breaks"},
		{"bad escape", "/api/v2.0/start-call-password/", good + "&x=%zz", nil, 400, "malformed request body"},
		{"duplicate dn", "/api/v2.0/start-call-password/", good + "&dn=" + dn, nil, 400, "dn is given more than once"},
		{"unknown route", "/api/v4.0/start-call-password/", good, nil, 404, "method not found"},
		{"subpath", "/api/v2.0/start-call-password/x", good, nil, 404, "method not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, srv := newSim(t, nil)
			r := post(t, srv, tc.path, tc.body, tc.mut)
			want := fmt.Sprintf(`{"message":%q,"status":"error"}`, tc.msg)
			if r.code != tc.code || r.body != want || r.ct != "application/json; charset=utf-8" {
				t.Errorf("got %d %q %s, want %d %s", r.code, r.ct, r.body, tc.code, want)
			}
			if n := len(s.Calls("")); n != 0 {
				t.Errorf("%d calls placed by a refused request", n)
			}
		})
	}
}

// TestMissingContentLength sends a raw request with neither Content-Length
// nor Transfer-Encoding, which net/http's client cannot produce.
func TestMissingContentLength(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, nil)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /api/v2.0/start-call-password/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: %s\r\nConnection: close\r\n\r\n", token, formCT)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusLengthRequired || string(b) != `{"message":"Content-Length header is required","status":"error"}` {
		t.Errorf("got %d %s", resp.StatusCode, b)
	}
	if s.Requests("") != 1 {
		t.Errorf("total requests %d, want 1", s.Requests(""))
	}
}

func TestParamValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		body string
		msg  string
	}{
		{"/api/v1.0/start-call-password/", "timeout=5", "dn is required"},
		{"/api/v1.0/start-call-password/", "dn=&timeout=5", "dn is required"},
		{"/api/v1.0/start-call-password/", "dn=%2B79001234567&timeout=5", "dn must contain digits only"},
		{"/api/v2.0/start-call-password/", "dn=7900-123-45-67&timeout=5", "dn must contain digits only"},
		{"/api/v2.0/start-call-password/", "dn=7900123456&timeout=5", "dn must have at least 11 digits"},
		{"/api/v2.0/start-call-password/", "dn=7900123456789012&timeout=5", "dn must have at most 15 digits"},
		{"/api/v3.0/start-call-password/", "dn=89001234567&timeout=5", "dn must start with 7"},
		{"/api/v3.0/start-call-password/", "dn=79001234567", "timeout is required"},
		{"/api/v3.0/start-call-password/", "dn=79001234567&timeout=1", "timeout must be an integer from 2 to 99"},
		{"/api/v3.0/start-call-password/", "dn=79001234567&timeout=100", "timeout must be an integer from 2 to 99"},
		{"/api/v3.0/start-call-password/", "dn=79001234567&timeout=5.5", "timeout must be an integer from 2 to 99"},
		{"/api/v3.0/start-call-password/", "dn=79001234567&timeout=%2B5", "timeout must be an integer from 2 to 99"},
		{"/api/v2.0/start-call-password/", "dn=79001234567&timeout=5&async=2", "async must be 0 or 1"},
		{"/api/v2.0/start-call-password/", "dn=79001234567&timeout=5&async=", "async must be 0 or 1"},
		{"/api/v3.0/start-call-password/", "dn=79001234567&timeout=5&async=true", "async must be 0 or 1"},
	}
	for _, tc := range tests {
		t.Run(tc.path+"?"+tc.body, func(t *testing.T) {
			t.Parallel()
			s, srv := newSim(t, nil)
			r := post(t, srv, tc.path, tc.body, nil)
			want := fmt.Sprintf(`{"message":%q,"status":"error"}`, tc.msg)
			if r.code != http.StatusBadRequest || r.body != want {
				t.Errorf("got %d %s, want 400 %s", r.code, r.body, want)
			}
			if len(s.Calls("")) != 0 || s.Requests("") != 1 {
				t.Errorf("calls %d, requests %d", len(s.Calls("")), s.Requests(""))
			}
		})
	}
}

func TestScriptedOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outcome sim.Outcome
		code    int
		ct      string
		body    string // exact, or a regexp when it starts with ^
		placed  bool
		status  string
	}{
		{sim.OutcomeAnswered, 200, "application/json; charset=utf-8", `^\{"data":\{"callid":"[0-9a-f-]{36}","pin":"\d{4}","result":"NORMAL_CLEARING"\},"status":"success"\}$`, true, "NORMAL_CLEARING"},
		{sim.OutcomeBusy, 200, "application/json; charset=utf-8", `^\{"data":\{"callid":"[0-9a-f-]{36}","pin":"\d{4}","result":"USER_BUSY"\},"status":"success"\}$`, true, "USER_BUSY"},
		{sim.OutcomeNoAnswer, 200, "application/json; charset=utf-8", `^\{"data":\{"callid":"[0-9a-f-]{36}","pin":"\d{4}","result":"NO_ANSWER"\},"status":"success"\}$`, true, "NO_ANSWER"},
		{sim.OutcomeUnreachable, 200, "application/json; charset=utf-8", `^\{"data":\{"callid":"[0-9a-f-]{36}","pin":"\d{4}","result":"SUBSCRIBER_ABSENT"\},"status":"success"\}$`, true, "SUBSCRIBER_ABSENT"},
		{sim.OutcomeRejected, 200, "application/json; charset=utf-8", `^\{"data":\{"callid":"[0-9a-f-]{36}","pin":"\d{4}","result":"CALL_REJECTED"\},"status":"success"\}$`, true, "CALL_REJECTED"},
		{sim.OutcomeResultSuccess, 200, "application/json; charset=utf-8", `^\{"data":\{"callid":"[0-9a-f-]{36}","pin":"\d{4}","result":"success"\},"status":"success"\}$`, true, "success"},
		{sim.OutcomeDestinationNotAllowed, 200, "application/json; charset=utf-8", `{"data":{"message":"destination not allowed","result":"error"},"status":"success"}`, false, ""},
		{sim.OutcomeLowBalance, 200, "application/json; charset=utf-8", `{"status":"success","message":"balance is lower than limit for that call"}`, false, ""},
		{sim.OutcomeServerError, 500, "application/json; charset=utf-8", `{"status":"error","message":"internal server error"}`, false, ""},
		{sim.OutcomeHTMLError, 502, "text/html", "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", false, ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.outcome), func(t *testing.T) {
			t.Parallel()
			s, srv := newSim(t, func(c *sim.Config) { c.Scripts = map[string]sim.Outcome{dn: tc.outcome} })
			r := post(t, srv, "/api/v1.0/start-call-password/", "dn="+dn+"&timeout=2", nil)
			okBody := r.body == tc.body
			if strings.HasPrefix(tc.body, "^") {
				okBody = regexp.MustCompile(tc.body).MatchString(r.body)
			}
			if r.code != tc.code || r.ct != tc.ct || !okBody {
				t.Errorf("got %d %q %q", r.code, r.ct, r.body)
			}
			calls := s.Calls(dn)
			if tc.placed != (len(calls) == 1) || len(calls) > 1 {
				t.Fatalf("placed %d calls, want placed=%v", len(calls), tc.placed)
			}
			if tc.placed && (calls[0].Status != tc.status || calls[0].Outcome != tc.outcome) {
				t.Errorf("record %+v", calls[0])
			}
			if s.Requests(dn) != 1 {
				t.Errorf("requests %d", s.Requests(dn))
			}
			// Other numbers keep the default.
			other := decode(t, post(t, srv, "/api/v2.0/start-call-password/", "dn=79990000000&timeout=2&async=1", nil))
			if other.Data == nil || other.Data.Result != "null" {
				t.Errorf("unscripted number: %+v", other)
			}
		})
	}
}

func TestSyncWaitsForSettle(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, func(c *sim.Config) { c.SettleDelay = 300 * time.Millisecond })
	begin := time.Now()
	e := decode(t, post(t, srv, "/api/v2.0/start-call-password/", "dn="+dn+"&timeout=5&async=0", nil))
	if took := time.Since(begin); took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("sync start took %s, want about the settle delay", took)
	}
	if e.Data.Result != "NO_ANSWER" {
		t.Errorf("result %q", e.Data.Result)
	}
	if c := s.Calls(dn)[0]; c.Status != "NO_ANSWER" || c.SettledAt.IsZero() {
		t.Errorf("record %+v", c)
	}
}

func TestSyncCappedByTimeout(t *testing.T) {
	t.Parallel()
	_, srv := newSim(t, func(c *sim.Config) { c.SettleDelay = time.Minute })
	begin := time.Now()
	e := decode(t, post(t, srv, "/api/v1.0/start-call-password/", "dn="+dn+"&timeout=2", nil))
	if took := time.Since(begin); took < 2*time.Second || took > 5*time.Second {
		t.Errorf("sync start took %s, want the 2s timeout", took)
	}
	if e.Data.Result != "NO_ANSWER" {
		t.Errorf("result %q", e.Data.Result)
	}
}

func TestSlowOutcomeClientTimeout(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, func(c *sim.Config) { c.Scripts = map[string]sim.Outcome{dn: sim.OutcomeSlow} })
	client := srv.Client()
	client.Timeout = 300 * time.Millisecond
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v2.0/start-call-password/",
		strings.NewReader("dn="+dn+"&timeout=2&async=0"))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", formCT)
	_, err := client.Do(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a client timeout, got %v", err)
	}
	if s.Requests(dn) != 1 {
		t.Errorf("requests %d, want exactly 1", s.Requests(dn))
	}
	// The call was placed: the phone rang although the client saw no answer.
	if calls := s.Calls(dn); len(calls) != 1 || calls[0].Outcome != sim.OutcomeSlow {
		t.Errorf("calls %+v", calls)
	}
	// The handler must have noticed the client leaving: closing the server
	// (which waits for handlers) is quick.
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("server close blocked: the slow handler leaked")
	}
}

func TestCloseAbortsSlow(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, func(c *sim.Config) { c.DefaultOutcome = sim.OutcomeSlow })
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1.0/start-call-password/", strings.NewReader("dn="+dn+"&timeout=2"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", formCT)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("got an answer %d", resp.StatusCode)
		}
		errc <- err
	}()
	for len(s.Calls(dn)) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	_ = s.Close()
	select {
	case err := <-errc:
		if err == nil || strings.Contains(err.Error(), "got an answer") {
			t.Errorf("want the connection dropped, got %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not release the slow request")
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		allowed []string
		code    int
	}{
		{nil, 200},
		{[]string{"10.0.0.0/8"}, 403},
		{[]string{"10.0.0.0/8", "127.0.0.1"}, 200},
		{[]string{"127.0.0.0/8"}, 200},
		{[]string{"::1"}, 403},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.allowed, ","), func(t *testing.T) {
			t.Parallel()
			s, srv := newSim(t, func(c *sim.Config) { c.AllowedIPs = tc.allowed })
			r := post(t, srv, "/api/v3.0/start-call-password/", "dn="+dn+"&timeout=2&async=1", nil)
			if r.code != tc.code {
				t.Fatalf("got %d %s", r.code, r.body)
			}
			if tc.code == 403 && r.body != `{"message":"access denied for this IP address","status":"error"}` {
				t.Errorf("body %s", r.body)
			}
			if s.Requests(dn) != 1 {
				t.Errorf("requests %d", s.Requests(dn))
			}
		})
	}
}

func TestSecondTokenAndNewCodeEachCall(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, func(c *sim.Config) { c.CallerPrefix = "7351"; c.PinLength = 5 })
	seen := map[string]bool{}
	prev := ""
	for i := range 20 {
		e := decode(t, post(t, srv, "/api/v2.0/start-call-password/", "dn="+dn+"&timeout=2&async=1", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+token2)
		}))
		if e.Data == nil || len(e.Data.Phone) != 5 || e.Data.Phone == prev {
			t.Fatalf("call %d: %+v (prev %q)", i, e.Data, prev)
		}
		prev = e.Data.Phone
		seen[e.Data.CallID] = true
	}
	calls := s.Calls("+7 (900) 123-45-67")
	if len(seen) != 20 || len(calls) != 20 {
		t.Fatalf("ids %d, calls %d", len(seen), len(calls))
	}
	for _, c := range calls {
		if !strings.HasPrefix(c.Caller, "7351") || len(c.Caller) != 11 || c.Pin != c.Caller[6:] {
			t.Errorf("record %+v", c)
		}
	}
}

func TestRingBufferCap(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, func(c *sim.Config) { c.MaxCalls = 3 })
	var ids []string
	for range 5 {
		e := decode(t, post(t, srv, "/api/v3.0/start-call-password/", "dn="+dn+"&timeout=2&async=1", nil))
		ids = append(ids, e.Data.CallID)
	}
	calls := s.Calls("")
	if len(calls) != 3 {
		t.Fatalf("kept %d calls, want 3", len(calls))
	}
	for i, c := range calls { // newest first
		if c.CallID != ids[4-i] {
			t.Errorf("calls[%d] = %s, want %s", i, c.CallID, ids[4-i])
		}
	}
	r := post(t, srv, "/api/v3.0/get-call-password-status/", "callid="+ids[0], nil)
	if r.body != `{"data":{"message":"can't find callid","result":"error"},"status":"success"}` {
		t.Errorf("evicted call status: %s", r.body)
	}
	r = post(t, srv, "/api/v3.0/get-call-password-status/", "callid="+ids[4], nil)
	if !strings.Contains(r.body, ids[4]) {
		t.Errorf("kept call status: %s", r.body)
	}
	if s.Requests(dn) != 5 {
		t.Errorf("requests %d", s.Requests(dn))
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, func(c *sim.Config) { c.MaxCalls = 16; c.SettleDelay = 10 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 64)
	for g := range 8 {
		go func() {
			var err error
			defer func() { errc <- err }()
			num := fmt.Sprintf("7900000000%d", g)
			for i := range 10 {
				if ctx.Err() != nil {
					err = ctx.Err()
					return
				}
				if i%3 == 0 {
					s.Script(num, sim.OutcomeAnswered)
				}
				e := decode(t, post(t, srv, "/api/v3.0/start-call-password/", "dn="+num+"&timeout=2&async=1", nil))
				if e.Data == nil || e.Data.CallID == "" {
					err = fmt.Errorf("start: %+v", e)
					return
				}
				post(t, srv, "/api/v3.0/get-call-password-status", "callid="+e.Data.CallID, nil)
				_ = s.Calls("")
				resp, gerr := http.Get(srv.URL + "/sim/calls?dn=" + num)
				if gerr != nil {
					err = gerr
					return
				}
				resp.Body.Close()
				if i == 5 && g == 0 {
					s.Reset()
				}
			}
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if n := len(s.Calls("")); n > 16 {
		t.Errorf("ring holds %d calls, cap 16", n)
	}
}

// TestResultSuccessWithClient: the client reads the simulator's "result
// success" answer (the document's generic sample) as a call that rang, from
// a synchronous start and from a status request after an asynchronous one.
func TestResultSuccessWithClient(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, func(c *sim.Config) {
		c.Scripts = map[string]sim.Outcome{dn: sim.OutcomeResultSuccess}
		c.SettleDelay = 20 * time.Millisecond
	})
	n, err := phone.Parse("+" + dn)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version int
		async   bool
	}{{1, false}, {2, false}, {3, false}, {2, true}, {3, true}} {
		c, err := callpass.New(callpass.Config{BaseURL: srv.URL, Token: token, APIVersion: tc.version, Timeout: 2 * time.Second, Async: tc.async})
		if err != nil {
			t.Fatal(err)
		}
		call, err := c.StartCall(context.Background(), n)
		if err != nil {
			t.Fatalf("v%d async=%v start: %v", tc.version, tc.async, err)
		}
		rec, ok := s.Call(call.ID)
		if !ok || !strings.HasSuffix(rec.Caller, call.Code) {
			t.Fatalf("v%d: code %q is not the tail of the caller %+v", tc.version, call.Code, rec)
		}
		st := call.Status
		if tc.async {
			if st.Class != flashcall.ClassPending {
				t.Fatalf("v%d async start status %+v", tc.version, st)
			}
			time.Sleep(40 * time.Millisecond)
			if st, err = c.CallStatus(context.Background(), call.ID, n); err != nil {
				t.Fatalf("v%d status: %v", tc.version, err)
			}
		}
		if st.Raw != "success" || st.Class != flashcall.ClassRang || !st.Final() {
			t.Fatalf("v%d async=%v status %+v, want success/rang", tc.version, tc.async, st)
		}
	}
}

// TestStatusFormsWithClient: the simulator takes both spellings of the
// status path and both parameter names, so the client's first form (the
// curl sample's: trailing '/', callid) is answered at once, every time.
func TestStatusFormsWithClient(t *testing.T) {
	t.Parallel()
	s, err := sim.New(sim.Config{Tokens: []string{token}, SettleDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var statusReqs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "status") {
			raw, _ := io.ReadAll(r.Body)
			mu.Lock()
			statusReqs = append(statusReqs, r.URL.Path+"?"+string(raw))
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(raw))
		}
		s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(func() { _ = s.Close(); srv.Close() })
	n, err := phone.Parse("+" + dn)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{2, 3} {
		c, err := callpass.New(callpass.Config{BaseURL: srv.URL, Token: token, APIVersion: v, Timeout: 2 * time.Second, Async: true})
		if err != nil {
			t.Fatal(err)
		}
		call, err := c.StartCall(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		for range 2 {
			st, err := c.CallStatus(context.Background(), call.ID, n)
			if err != nil || st.Raw != "NO_ANSWER" || st.Class != flashcall.ClassRang {
				t.Fatalf("v%d status %+v, %v", v, st, err)
			}
		}
		mu.Lock()
		got := statusReqs
		statusReqs = nil
		mu.Unlock()
		want := fmt.Sprintf("/api/v%d.0/get-call-password-status/?callid=%s", v, call.ID)
		if len(got) != 2 || got[0] != want || got[1] != want {
			t.Fatalf("v%d status requests %q, want twice %q", v, got, want)
		}
	}
}
