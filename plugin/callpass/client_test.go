package callpass

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// testToken mixes letters and digits: no digit run in it is long enough for
// sanitize's masking, so a test that finds no token in an error or a log
// line shows the token was redacted, not masked by chance.
const testToken = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"

// The provider document's samples, verbatim.
const (
	sampleV1NoAnswer   = `{"data":{"callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","pin":"0446","result":"NO_ANSWER"},"status":"success"}`
	sampleDestination  = `{"data":{"message":"destination not allowed","result":"error"},"status":"success"}`
	sampleBalance      = "{  \n  \"status\": \"success\",  \n  \"message\": \"balance is lower than limit for that call\"  \n}"
	sampleSuccessPin   = "{  \n  \"status\": \"success\",  \n  \"data\": {  \n    \"result\": \"success\",  \n    \"callid\": \"8f3b2c32-ea06-43d2-856f-2ae05d6f86c6\",  \n    \"pin\": \"7127\"  \n  }  \n}"
	sampleV2Async      = `{"data":{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","phone":"4610","result":"null"},"status":"success"}`
	sampleV2Status     = `{"data":{"callid":"4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d","result":"NORMAL_CLEARING"},"status":"success"}`
	sampleCantFind     = `{"data":{"message":"can't find callid","result":"error"},"status":"success"}`
	sampleV3Async      = `{"data":{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","phone":"2214610","result":"null"},"status":"success"}`
	sampleStatusCallID = "4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d"
)

var documentSamples = []string{
	sampleV1NoAnswer, sampleDestination, sampleBalance, sampleSuccessPin,
	sampleV2Async, sampleV2Status, sampleCantFind, sampleV3Async,
}

type recorded struct {
	method, path, ctype, auth, accept string
	contentLength                     int64
	body                              string
	form                              url.Values
}

// provider is an httptest server that records every request and answers
// with reply.
type provider struct {
	srv   *httptest.Server
	mu    sync.Mutex
	reqs  []recorded
	reply func(w http.ResponseWriter, r *http.Request)
}

func newProvider(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *provider {
	t.Helper()
	p := &provider{reply: reply}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		p.mu.Lock()
		p.reqs = append(p.reqs, recorded{
			method: r.Method, path: r.URL.Path, ctype: r.Header.Get("Content-Type"),
			auth: r.Header.Get("Authorization"), accept: r.Header.Get("Accept"),
			contentLength: r.ContentLength, body: string(raw), form: form,
		})
		p.mu.Unlock()
		p.reply(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) requests() []recorded {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recorded(nil), p.reqs...)
}

func answer(status int, ctype, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func jsonAnswer(body string) func(http.ResponseWriter, *http.Request) {
	return answer(http.StatusOK, "application/json", body)
}

func newTestClient(t *testing.T, baseURL string, version int, mutate func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: baseURL, Token: testToken, APIVersion: version, Timeout: 5 * time.Second, CodeLength: 4, Async: true}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.backoff = time.Millisecond
	return c
}

func mustPhone(t *testing.T) phone.Number {
	t.Helper()
	n, err := phone.Parse("+7 (900) 123-45-67")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStartCallDocumentSamples(t *testing.T) {
	type startCase struct {
		name       string
		version    int
		async      bool
		codeLength int
		body       string
		wantID     string
		wantCode   string
		wantRaw    string
		wantClass  flashcall.Class
		wantKind   error
		// ctype, when otherCT is set, is served instead of application/json
		// ("" sends no Content-Type at all).
		ctype   string
		otherCT bool
	}
	tests := []startCase{
		{name: "v1 NO_ANSWER", version: 1, body: sampleV1NoAnswer, wantID: "527f2b9b-1124-4c6f-a5fb-b9b239d923e4", wantCode: "0446", wantRaw: "NO_ANSWER", wantClass: flashcall.ClassRang},
		{name: "v1 destination not allowed", version: 1, body: sampleDestination, wantKind: flashcall.ErrDestinationNotAllowed},
		{name: "v1 balance", version: 1, body: sampleBalance, wantKind: flashcall.ErrInsufficientBalance},
		{name: "v3 balance", version: 3, async: true, body: sampleBalance, wantKind: flashcall.ErrInsufficientBalance},
		// The generic sample: result "success" is "the requested method ran".
		// A synchronous start answers once the call is over, so it rang.
		{name: "v1 result success pin 7127", version: 1, body: sampleSuccessPin, wantID: "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", wantCode: "7127", wantRaw: "success", wantClass: flashcall.ClassRang},
		{name: "v2 sync result success pin 7127", version: 2, async: false, body: sampleSuccessPin, wantID: "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", wantCode: "7127", wantRaw: "success", wantClass: flashcall.ClassRang},
		{name: "v3 sync result success pin 7127", version: 3, async: false, body: sampleSuccessPin, wantID: "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", wantCode: "7127", wantRaw: "success", wantClass: flashcall.ClassRang},
		// An asynchronous start answers at once: "success" says only that the
		// call was placed, not that the phone rang, so it is pending (polled).
		{name: "v2 async result success is pending, not rang", version: 2, async: true, body: sampleSuccessPin, wantID: "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", wantCode: "7127", wantRaw: "success", wantClass: flashcall.ClassPending},
		{name: "v3 async result success is pending, not rang", version: 3, async: true, body: sampleSuccessPin, wantID: "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", wantCode: "7127", wantRaw: "success", wantClass: flashcall.ClassPending},
		// In v3 the generic sample's pin is the code itself, whatever the
		// configured length of a v3 "phone" tail.
		{name: "v3 result success pin 7127 code length 5", version: 3, async: true, codeLength: 5, body: sampleSuccessPin, wantID: "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", wantCode: "7127", wantRaw: "success", wantClass: flashcall.ClassPending},
		{name: "v1 NO_ANSWER after a BOM", version: 1, body: "\xEF\xBB\xBF" + sampleV1NoAnswer, wantID: "527f2b9b-1124-4c6f-a5fb-b9b239d923e4", wantCode: "0446", wantRaw: "NO_ANSWER", wantClass: flashcall.ClassRang},
		{name: "v3 balance with empty data object", version: 3, async: true, body: `{"status":"success","message":"balance is lower than limit for that call","data":{}}`, wantKind: flashcall.ErrInsufficientBalance},
		{name: "v3 balance with empty data array", version: 3, async: true, body: `{"status":"success","message":"balance is lower than limit for that call","data":[]}`, wantKind: flashcall.ErrInsufficientBalance},
		{name: "v2 async phone 4610", version: 2, async: true, body: sampleV2Async, wantID: "58597b21-2a59-480a-a3f0-96a1eec77ae9", wantCode: "4610", wantRaw: "null", wantClass: flashcall.ClassPending},
		{name: "v2 sync NO_ANSWER", version: 2, async: false, body: sampleV1NoAnswer, wantID: "527f2b9b-1124-4c6f-a5fb-b9b239d923e4", wantCode: "0446", wantRaw: "NO_ANSWER", wantClass: flashcall.ClassRang},
		{name: "v2 destination not allowed", version: 2, async: true, body: sampleDestination, wantKind: flashcall.ErrDestinationNotAllowed},
		{name: "v3 async length 4", version: 3, async: true, codeLength: 4, body: sampleV3Async, wantID: "58597b21-2a59-480a-a3f0-96a1eec77ae9", wantCode: "4610", wantRaw: "null", wantClass: flashcall.ClassPending},
		{name: "v3 async length 5", version: 3, async: true, codeLength: 5, body: sampleV3Async, wantID: "58597b21-2a59-480a-a3f0-96a1eec77ae9", wantCode: "14610", wantRaw: "null", wantClass: flashcall.ClassPending},
		{name: "v3 async length 7", version: 3, async: true, codeLength: 7, body: sampleV3Async, wantID: "58597b21-2a59-480a-a3f0-96a1eec77ae9", wantCode: "2214610", wantRaw: "null", wantClass: flashcall.ClassPending},
		{name: "v3 sync NO_ANSWER with phone", version: 3, async: false, body: `{"data":{"callid":"abc","phone":"9990446","result":"NO_ANSWER"},"status":"success"}`, wantID: "abc", wantCode: "0446", wantRaw: "NO_ANSWER", wantClass: flashcall.ClassRang},
		{name: "v3 destination not allowed", version: 3, async: true, body: sampleDestination, wantKind: flashcall.ErrDestinationNotAllowed},
	}
	// The document says answers are application/json, but nothing may
	// depend on the header: the v2 async sample under other content types.
	for _, ct := range []string{"text/html; charset=UTF-8", "text/plain", "application/json;charset=UTF-8", ""} {
		tests = append(tests, startCase{name: "v2 async sample as content type " + strconv.Quote(ct), version: 2, async: true, body: sampleV2Async,
			ctype: ct, otherCT: true, wantID: "58597b21-2a59-480a-a3f0-96a1eec77ae9", wantCode: "4610", wantRaw: "null", wantClass: flashcall.ClassPending})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := jsonAnswer(tt.body)
			if tt.otherCT {
				reply = func(w http.ResponseWriter, _ *http.Request) {
					if tt.ctype == "" {
						// No Content-Type at all (net/http would sniff one).
						w.Header()["Content-Type"] = nil
					} else {
						w.Header().Set("Content-Type", tt.ctype)
					}
					_, _ = io.WriteString(w, tt.body)
				}
			}
			p := newProvider(t, reply)
			c := newTestClient(t, p.srv.URL, tt.version, func(cfg *Config) {
				cfg.Async = tt.async
				if tt.codeLength != 0 {
					cfg.CodeLength = tt.codeLength
				}
			})
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if reqs := p.requests(); len(reqs) != 1 {
				t.Fatalf("provider got %d requests, want 1", len(reqs))
			}
			if tt.wantKind != nil {
				assertKind(t, err, tt.wantKind, OpStart)
				return
			}
			if err != nil {
				t.Fatalf("StartCall: %v", err)
			}
			if call.ID != tt.wantID || call.Code != tt.wantCode || call.Status.Raw != tt.wantRaw || call.Status.Class != tt.wantClass {
				t.Fatalf("call = %+v, want id %q code %q status %q/%v", call, tt.wantID, tt.wantCode, tt.wantRaw, tt.wantClass)
			}
		})
	}
}

func TestBalanceMessageSurfaced(t *testing.T) {
	// A level-1 message without data is the error, whatever stands in for
	// the missing data: nothing, null, or the empty object or array a PHP
	// back end sends for an empty map.
	for _, data := range []string{"", `,"data":null`, `,"data":{}`, `,"data":[]`, `,"data":[ ]`, `,"data": { } `} {
		body := `{"status":"success","message":"balance is lower than limit for that call"` + data + `}`
		p := newProvider(t, jsonAnswer(body))
		c := newTestClient(t, p.srv.URL, 3, nil)
		_, err := c.StartCall(context.Background(), mustPhone(t))
		var e *Error
		if !errors.As(err, &e) || e.Message != "balance is lower than limit for that call" || !e.Sent || !errors.Is(err, flashcall.ErrInsufficientBalance) {
			t.Errorf("%s: error = %#v, want the provider message surfaced as insufficient balance", body, err)
		}
	}
}

func TestCallStatusDocumentSamples(t *testing.T) {
	tests := []struct {
		name      string
		version   int
		body      string
		wantRaw   string
		wantClass flashcall.Class
		wantKind  error
	}{
		{name: "v2 NORMAL_CLEARING", version: 2, body: sampleV2Status, wantRaw: "NORMAL_CLEARING", wantClass: flashcall.ClassRang},
		{name: "v2 can't find callid", version: 2, body: sampleCantFind, wantKind: flashcall.ErrCallNotFound},
		{name: "v3 NORMAL_CLEARING", version: 3, body: sampleV2Status, wantRaw: "NORMAL_CLEARING", wantClass: flashcall.ClassRang},
		{name: "v3 can't find callid", version: 3, body: sampleCantFind, wantKind: flashcall.ErrCallNotFound},
		{name: "callId spelling", version: 3, body: `{"data":{"callId":"4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d","result":"USER_BUSY"},"status":"success"}`, wantRaw: "USER_BUSY", wantClass: flashcall.ClassRang},
		{name: "no callid in answer", version: 3, body: `{"data":{"result":"NO_ANSWER"},"status":"success"}`, wantRaw: "NO_ANSWER", wantClass: flashcall.ClassRang},
		{name: "pending string null", version: 3, body: `{"data":{"result":"null"},"status":"success"}`, wantRaw: "null", wantClass: flashcall.ClassPending},
		{name: "pending JSON null", version: 3, body: `{"data":{"result":null},"status":"success"}`, wantRaw: "null", wantClass: flashcall.ClassPending},
		// Q.850 cause 21: the called party declined a call it could have
		// taken, so the number was shown; likewise the caller dropping a
		// ringing call, which is what a flash call does.
		{name: "CALL_REJECTED rang", version: 3, body: `{"data":{"result":"CALL_REJECTED"},"status":"success"}`, wantRaw: "CALL_REJECTED", wantClass: flashcall.ClassRang},
		{name: "ORIGINATOR_CANCEL rang", version: 3, body: `{"data":{"result":"ORIGINATOR_CANCEL"},"status":"success"}`, wantRaw: "ORIGINATOR_CANCEL", wantClass: flashcall.ClassRang},
		{name: "UNALLOCATED_NUMBER", version: 3, body: `{"data":{"result":"UNALLOCATED_NUMBER"},"status":"success"}`, wantRaw: "UNALLOCATED_NUMBER", wantClass: flashcall.ClassNotDelivered},
		{name: "NO_ROUTE_DESTINATION", version: 2, body: `{"data":{"result":"NO_ROUTE_DESTINATION"},"status":"success"}`, wantRaw: "NO_ROUTE_DESTINATION", wantClass: flashcall.ClassNotDelivered},
		{name: "SOMETHING_NEW", version: 2, body: `{"data":{"result":"SOMETHING_NEW"},"status":"success"}`, wantRaw: "SOMETHING_NEW", wantClass: flashcall.ClassNotDelivered},
		{name: "lower case cause", version: 3, body: `{"data":{"result":"subscriber_absent"},"status":"success"}`, wantRaw: "subscriber_absent", wantClass: flashcall.ClassNotDelivered},
		{name: "answer about another call", version: 3, body: `{"data":{"callid":"other","result":"NO_ANSWER"},"status":"success"}`, wantKind: flashcall.ErrBadResponse},
		// A UUID is the same id in either case.
		{name: "upper-case callid echo", version: 3, body: `{"data":{"callid":"4F2EA8A1-75E8-4FDD-8E6B-B92E804B1A1D","result":"NO_ANSWER"},"status":"success"}`, wantRaw: "NO_ANSWER", wantClass: flashcall.ClassRang},
		// The document's generic sample, as a status answer.
		{name: "v2 result success", version: 2, body: `{"status":"success","data":{"result":"success","callid":"4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d","pin":"7127"}}`, wantRaw: "success", wantClass: flashcall.ClassRang},
		{name: "v3 result SUCCESS", version: 3, body: `{"data":{"callid":"4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d","result":"SUCCESS"},"status":"success"}`, wantRaw: "SUCCESS", wantClass: flashcall.ClassRang},
		{name: "status after a BOM", version: 3, body: "\xEF\xBB\xBF" + sampleV2Status, wantRaw: "NORMAL_CLEARING", wantClass: flashcall.ClassRang},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, jsonAnswer(tt.body))
			c := newTestClient(t, p.srv.URL, tt.version, nil)
			st, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			reqs := p.requests()
			// A fresh client asks about an unknown call under the other
			// parameter name once (TestCantFindBeforeFormProven).
			want := 1
			if tt.wantKind == flashcall.ErrCallNotFound {
				want = 2
			}
			if len(reqs) != want {
				t.Fatalf("provider got %d requests, want %d", len(reqs), want)
			}
			if got := reqs[0].form.Get("callid"); got != sampleStatusCallID {
				t.Fatalf("callid param = %q", got)
			}
			if tt.wantKind != nil {
				assertKind(t, err, tt.wantKind, OpStatus)
				return
			}
			if err != nil {
				t.Fatalf("CallStatus: %v", err)
			}
			if st.Raw != tt.wantRaw || st.Class != tt.wantClass {
				t.Fatalf("status = %+v, want %q/%v", st, tt.wantRaw, tt.wantClass)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	tests := []struct {
		name       string
		version    int
		async      bool
		base       string // appended to the server URL
		op         string
		wantPath   string
		wantParams url.Values
	}{
		{"v1 start", 1, true, "", OpStart, "/api/v1.0/start-call-password/", url.Values{"dn": {"79001234567"}, "timeout": {"5"}}},
		{"v1 start trailing slash", 1, false, "/", OpStart, "/api/v1.0/start-call-password/", url.Values{"dn": {"79001234567"}, "timeout": {"5"}}},
		{"v2 start async", 2, true, "", OpStart, "/api/v2.0/start-call-password/", url.Values{"dn": {"79001234567"}, "timeout": {"5"}, "async": {"1"}}},
		{"v2 start sync", 2, false, "/", OpStart, "/api/v2.0/start-call-password/", url.Values{"dn": {"79001234567"}, "timeout": {"5"}, "async": {"0"}}},
		{"v3 start async prefix", 3, true, "/prefix/", OpStart, "/prefix/api/v3.0/start-call-password/", url.Values{"dn": {"79001234567"}, "timeout": {"5"}, "async": {"1"}}},
		{"v3 start sync", 3, false, "/prefix", OpStart, "/prefix/api/v3.0/start-call-password/", url.Values{"dn": {"79001234567"}, "timeout": {"5"}, "async": {"0"}}},
		{"v2 status", 2, true, "", OpStatus, "/api/v2.0/get-call-password-status/", url.Values{"callid": {sampleStatusCallID}}},
		{"v3 status", 3, true, "/", OpStatus, "/api/v3.0/get-call-password-status/", url.Values{"callid": {sampleStatusCallID}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := sampleV3Async
			if tt.version != 3 {
				body = sampleV2Async
			}
			if tt.op == OpStatus {
				body = sampleV2Status
			}
			p := newProvider(t, jsonAnswer(body))
			c := newTestClient(t, p.srv.URL+tt.base, tt.version, func(cfg *Config) { cfg.Async = tt.async })
			var err error
			if tt.op == OpStart {
				_, err = c.StartCall(context.Background(), mustPhone(t))
			} else {
				_, err = c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			reqs := p.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodPost {
				t.Errorf("method = %s", r.method)
			}
			if r.path != tt.wantPath {
				t.Errorf("path = %q, want %q", r.path, tt.wantPath)
			}
			if r.auth != "Bearer "+testToken {
				t.Errorf("Authorization = %q", r.auth)
			}
			if r.ctype != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", r.ctype)
			}
			if r.accept != "application/json" {
				t.Errorf("Accept = %q", r.accept)
			}
			if r.contentLength != int64(len(r.body)) || r.contentLength == 0 {
				t.Errorf("Content-Length = %d, body is %d bytes", r.contentLength, len(r.body))
			}
			if strings.ContainsAny(r.body, " \r\n") {
				t.Errorf("body has spaces or line breaks: %q", r.body)
			}
			if r.form.Encode() != tt.wantParams.Encode() {
				t.Errorf("form = %q, want %q", r.form.Encode(), tt.wantParams.Encode())
			}
		})
	}
}

func assertKind(t *testing.T, err, kind error, op string) *Error {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error = %v, want kind %v", err, kind)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not *callpass.Error", err)
	}
	if e.Unwrap() != kind {
		t.Fatalf("Unwrap = %v, want exactly %v", e.Unwrap(), kind)
	}
	if e.Op != op {
		t.Fatalf("Op = %q, want %q", e.Op, op)
	}
	msg := e.Error()
	if strings.Contains(msg, testToken) || strings.Contains(msg, "9001234567") || strings.Contains(msg, "\n") {
		t.Fatalf("Error() leaks or spans lines: %q", msg)
	}
	if len(e.Excerpt) > 120 || !utf8.ValidString(e.Excerpt) {
		t.Fatalf("bad excerpt %q", e.Excerpt)
	}
	for _, r := range e.Excerpt {
		if r < 0x20 || r == 0x7f {
			t.Fatalf("excerpt has control characters: %q", e.Excerpt)
		}
	}
	return e
}

func TestProviderErrors(t *testing.T) {
	htmlPage := "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	tests := []struct {
		name        string
		status      int
		ctype       string
		body        string
		kind        error
		wantExcerpt string // substring; "" means no excerpt expected
	}{
		{"401 JSON", 401, "application/json", `{"status":"error","message":"unauthorized"}`, flashcall.ErrUnauthorized, ""},
		{"401 JSON unknown wording", 401, "application/json", `{"status":"error","message":"nope"}`, flashcall.ErrUnauthorized, ""},
		{"403 JSON ip", 403, "application/json", `{"status":"error","message":"IP address is not allowed"}`, flashcall.ErrUnauthorized, ""},
		{"403 HTML from the front proxy", 403, "text/html", "<html><body><h1>403 Forbidden</h1></body></html>", flashcall.ErrUnauthorized, "403 Forbidden"},
		{"200 wrong token wording", 200, "application/json", `{"status":"error","message":"invalid token"}`, flashcall.ErrUnauthorized, ""},
		{"balance as level 1 error", 200, "application/json", `{"status":"error","message":"insufficient funds"}`, flashcall.ErrInsufficientBalance, ""},
		{"balance sample", 200, "application/json", sampleBalance, flashcall.ErrInsufficientBalance, ""},
		{"402", 402, "application/json", `{"status":"error","message":"payment required"}`, flashcall.ErrInsufficientBalance, ""},
		{"destination not allowed", 200, "application/json", sampleDestination, flashcall.ErrDestinationNotAllowed, ""},
		{"call not found level 2", 200, "application/json", sampleCantFind, flashcall.ErrCallNotFound, ""},
		{"invalid dn 400", 400, "application/json", `{"status":"error","message":"dn is invalid"}`, flashcall.ErrInvalidRequest, ""},
		{"422 unknown wording", 422, "application/json", `{"status":"error","message":"bad"}`, flashcall.ErrInvalidRequest, ""},
		{"level 2 unexplained error", 200, "application/json", `{"data":{"result":"error","message":"no free numbers"},"status":"success"}`, flashcall.ErrUnavailable, ""},
		{"500 JSON", 500, "application/json", `{"status":"error","message":"internal error"}`, flashcall.ErrUnavailable, ""},
		{"503 JSON no message", 503, "application/json", `{"status":"error"}`, flashcall.ErrUnavailable, ""},
		{"500 HTML", 500, "text/html; charset=utf-8", "<html><body>Internal Server Error</body></html>", flashcall.ErrUnavailable, "Internal Server Error"},
		{"502 HTML page", 502, "text/html", htmlPage, flashcall.ErrUnavailable, "502 Bad Gateway"},
		{"504 empty", 504, "", "", flashcall.ErrUnavailable, ""},
		{"429 text", 429, "text/plain", "slow down", flashcall.ErrUnavailable, "slow down"},
		{"200 HTML page", 200, "text/html", "<!doctype html><html><body>Welcome</body></html>", flashcall.ErrBadResponse, "Welcome"},
		{"200 empty body", 200, "application/json", "", flashcall.ErrBadResponse, ""},
		{"200 whitespace body", 200, "application/json", " \n ", flashcall.ErrBadResponse, ""},
		{"200 non-JSON", 200, "application/json", "OK", flashcall.ErrBadResponse, "OK"},
		{"200 truncated JSON", 200, "application/json", `{"status":"success","data":{"result"`, flashcall.ErrBadResponse, `{"status"`},
		{"200 non-UTF-8", 200, "application/json", "{\"status\":\"success\",\"message\":\"\xff\xfe\xfd\"}", flashcall.ErrBadResponse, "status"},
		{"200 windows-1251", 200, "application/json; charset=windows-1251", "{\"status\":\"error\",\"message\":\"\xce\xf8\xe8\xe1\xea\xe0\"}", flashcall.ErrBadResponse, "status"},
		{"200 JSON without status", 200, "application/json", `{"data":{"result":"null","callid":"x","phone":"4610"}}`, flashcall.ErrBadResponse, "data"},
		{"200 JSON array", 200, "application/json", `[1,2]`, flashcall.ErrBadResponse, "[1,2]"},
		{"200 status not a string", 200, "application/json", `{"status":1}`, flashcall.ErrBadResponse, "status"},
		{"200 success without data or message", 200, "application/json", `{"status":"success"}`, flashcall.ErrBadResponse, "success"},
		{"200 data without result", 200, "application/json", `{"status":"success","data":{"callid":"x","pin":"1234"}}`, flashcall.ErrBadResponse, ""},
		{"200 data not an object", 200, "application/json", `{"status":"success","data":"x"}`, flashcall.ErrBadResponse, ""},
		{"500 success envelope", 500, "application/json", `{"status":"success","data":{"result":"null","callid":"x","phone":"2214610"}}`, flashcall.ErrUnavailable, ""},
		{"302 redirect", 302, "text/html", "<a href=\"/login\">Found</a>", flashcall.ErrBadResponse, "Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, answer(tt.status, tt.ctype, tt.body))
			c := newTestClient(t, p.srv.URL, 3, nil)
			_, err := c.StartCall(context.Background(), mustPhone(t))
			e := assertKind(t, err, tt.kind, OpStart)
			if !e.Sent {
				t.Error("Sent = false for an answered request")
			}
			if e.HTTPStatus != tt.status {
				t.Errorf("HTTPStatus = %d, want %d", e.HTTPStatus, tt.status)
			}
			if tt.ctype != "" && e.ContentType != tt.ctype {
				t.Errorf("ContentType = %q, want %q", e.ContentType, tt.ctype)
			}
			if tt.wantExcerpt != "" && !strings.Contains(e.Excerpt, tt.wantExcerpt) {
				t.Errorf("Excerpt = %q, want it to contain %q", e.Excerpt, tt.wantExcerpt)
			}
			if tt.wantExcerpt != "" && !strings.Contains(e.Error(), strconv.Itoa(tt.status)) {
				t.Errorf("Error() %q does not name the HTTP status", e.Error())
			}
			// A start is never retried once the request was answered.
			if n := len(p.requests()); n != 1 {
				t.Errorf("provider got %d requests, want 1", n)
			}
		})
	}
}

func TestBadStartAnswers(t *testing.T) {
	tests := []struct {
		name    string
		version int
		body    string
	}{
		{"v1 empty pin", 1, `{"data":{"callid":"a","pin":"","result":"NO_ANSWER"},"status":"success"}`},
		{"v1 no code", 1, `{"data":{"callid":"a","result":"NO_ANSWER"},"status":"success"}`},
		{"v1 letters in pin", 1, `{"data":{"callid":"a","pin":"12a4","result":"NO_ANSWER"},"status":"success"}`},
		{"v1 too short pin", 1, `{"data":{"callid":"a","pin":"12","result":"NO_ANSWER"},"status":"success"}`},
		// An answer with a usable code is a placed call whatever its call
		// id (missing, with a space...): see TestPlacedCallWithUnusualIDNotLost.
		{"v2 no callid, no code", 2, `{"data":{"result":"null"},"status":"success"}`},
		{"v2 callid with space, code too short", 2, `{"data":{"callid":"a b","phone":"461","result":"null"},"status":"success"}`},
		{"v3 phone shorter than code", 3, `{"data":{"callid":"a","phone":"461","result":"null"},"status":"success"}`},
		{"v3 phone not digits", 3, `{"data":{"callid":"a","phone":"+7221461O","result":"null"},"status":"success"}`},
		{"v3 phone object", 3, `{"data":{"callid":"a","phone":{"n":1},"result":"null"},"status":"success"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, jsonAnswer(tt.body))
			c := newTestClient(t, p.srv.URL, tt.version, nil)
			_, err := c.StartCall(context.Background(), mustPhone(t))
			e := assertKind(t, err, flashcall.ErrBadResponse, OpStart)
			if !e.Sent {
				t.Error("Sent = false")
			}
		})
	}
}

func TestCodeVariants(t *testing.T) {
	tests := []struct {
		version, codeLen int
		pin, phone, want string
		ok               bool
	}{
		{1, 4, "0446", "", "0446", true},
		{1, 4, "04461", "", "04461", true}, // the text's "last 5 digits"
		{2, 4, "", "4610", "4610", true},
		{2, 4, "7127", "4610", "7127", true},
		{2, 4, "", "", "", false},
		{3, 4, "", "2214610", "4610", true},
		{3, 6, "", "2214610", "214610", true},
		{3, 4, "7127", "", "7127", true},
		// v3 without "phone": the generic sample's pin is the code itself.
		{3, 5, "7127", "", "7127", true},
		{3, 7, "04461", "", "04461", true},
		{3, 4, "04461", "", "4461", true},
		{3, 5, "127", "", "", false},
		{3, 5, "71a7", "", "", false},
		{3, 4, "", "", "", false},
	}
	for _, tt := range tests {
		got, ok := codeFrom(tt.version, tt.codeLen, tt.pin, tt.phone)
		if got != tt.want || ok != tt.ok {
			t.Errorf("codeFrom(%d,%d,%q,%q) = %q,%v want %q,%v", tt.version, tt.codeLen, tt.pin, tt.phone, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLocalValidationSendsNothing(t *testing.T) {
	p := newProvider(t, jsonAnswer(sampleV3Async))
	c3 := newTestClient(t, p.srv.URL, 3, nil)
	c1 := newTestClient(t, p.srv.URL, 1, nil)

	_, err := c3.StartCall(context.Background(), phone.Number{})
	assertKind(t, err, flashcall.ErrInvalidRequest, OpStart)

	for _, id := range []string{"", " ", "a b", "abc\n", "abc\x00", strings.Repeat("a", 129), "идентификатор"} {
		_, err := c3.CallStatus(context.Background(), id, mustPhone(t))
		e := assertKind(t, err, flashcall.ErrInvalidRequest, OpStatus)
		if e.Sent {
			t.Errorf("Sent = true for a refused call id %q", id)
		}
	}
	_, err = c1.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
	e := assertKind(t, err, flashcall.ErrInvalidRequest, OpStatus)
	if !strings.Contains(e.Error(), "v1") {
		t.Errorf("v1 status error does not say why: %q", e.Error())
	}
	if n := len(p.requests()); n != 0 {
		t.Fatalf("provider got %d requests, want 0", n)
	}
}

type countingObserver struct {
	mu    sync.Mutex
	calls []string
}

func (o *countingObserver) ObserveProviderCall(op string, v int, outcome string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, op+"/"+strconv.Itoa(v)+"/"+outcome)
}

func (o *countingObserver) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

// blockingProvider answers only after release is closed (or the test ends).
func blockingProvider(t *testing.T, delay time.Duration, body string) *provider {
	done := make(chan struct{})
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-done:
			return
		}
		jsonAnswer(body)(w, r)
	})
	t.Cleanup(func() { close(done) }) // runs before srv.Close (LIFO)
	return p
}

func TestSlowStartIsNotRetried(t *testing.T) {
	p := blockingProvider(t, 5*time.Second, sampleV3Async)
	obs := &countingObserver{}
	c := newTestClient(t, p.srv.URL, 3, func(cfg *Config) { cfg.Observer = obs })
	c.shortTimeout = 200 * time.Millisecond
	begin := time.Now()
	_, err := c.StartCall(context.Background(), mustPhone(t))
	e := assertKind(t, err, flashcall.ErrUnavailable, OpStart)
	if !e.Sent {
		t.Fatal("Sent = false after the request reached the server")
	}
	if !strings.Contains(e.Error(), "may have reached") {
		t.Errorf("Error() does not warn about a possibly placed call: %q", e.Error())
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("StartCall took %s, client timeout not applied", d)
	}
	if n := len(p.requests()); n != 1 {
		t.Fatalf("provider got %d start requests, want exactly 1", n)
	}
	if got := obs.list(); len(got) != 1 || got[0] != "start/3/unavailable" {
		t.Fatalf("observer = %v", got)
	}
}

func TestSynchronousStartWaitsForTheProvider(t *testing.T) {
	// The short timeout would cut this answer off; a synchronous start must
	// wait for the provider's timeout plus a margin instead.
	for _, tc := range []struct {
		version int
		async   bool
	}{{1, true}, {2, false}, {3, false}} {
		p := blockingProvider(t, 300*time.Millisecond, sampleV1NoAnswer)
		c := newTestClient(t, p.srv.URL, tc.version, func(cfg *Config) { cfg.Async = tc.async; cfg.Timeout = 2 * time.Second })
		c.shortTimeout = 50 * time.Millisecond
		call, err := c.StartCall(context.Background(), mustPhone(t))
		if err != nil {
			t.Fatalf("v%d sync start: %v", tc.version, err)
		}
		if call.Code != "0446" || call.Status.Class != flashcall.ClassRang {
			t.Fatalf("v%d sync start: %+v", tc.version, call)
		}
	}
}

func TestSlowStatusIsRetriedBounded(t *testing.T) {
	p := blockingProvider(t, 5*time.Second, sampleV2Status)
	c := newTestClient(t, p.srv.URL, 3, nil)
	c.shortTimeout = 100 * time.Millisecond
	_, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
	assertKind(t, err, flashcall.ErrUnavailable, OpStatus)
	if n := len(p.requests()); n != c.statusAttempts {
		t.Fatalf("provider got %d status requests, want %d", n, c.statusAttempts)
	}
}

func TestStatusRetriesThenSucceeds(t *testing.T) {
	var mu sync.Mutex
	n := 0
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			answer(503, "text/html", "<h1>503</h1>")(w, r)
			return
		}
		jsonAnswer(sampleV2Status)(w, r)
	})
	c := newTestClient(t, p.srv.URL, 2, nil)
	st, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
	if err != nil || st.Class != flashcall.ClassRang {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if got := len(p.requests()); got != 2 {
		t.Fatalf("requests = %d, want 2", got)
	}
}

// TestThrottledStatusIsNotRepeatedAtOnce: a 429 asks the client to slow
// down. CallStatus repeated it 150 and 450 ms later, so every poll of a
// throttled provider became three requests (the poller asks again every
// 2 s anyway): throttling tripled the load that caused it.
func TestThrottledStatusIsNotRepeatedAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name, ctype, body string
	}{
		{"JSON", "application/json", `{"status":"error","message":"too many requests"}`},
		{"empty", "", ""},
		{"text", "text/plain", "slow down"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "5")
				answer(http.StatusTooManyRequests, tt.ctype, tt.body)(w, r)
			})
			c := newTestClient(t, p.srv.URL, 3, nil)
			_, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			if e := assertKind(t, err, flashcall.ErrUnavailable, OpStatus); e.HTTPStatus != http.StatusTooManyRequests {
				t.Errorf("HTTPStatus = %d", e.HTTPStatus)
			}
			if n := len(p.requests()); n != 1 {
				t.Fatalf("provider got %d status requests for one throttled poll, want 1", n)
			}
		})
	}
}

func TestStart5xxIsNotRetried(t *testing.T) {
	p := newProvider(t, answer(503, "text/html", "<h1>503 Service Unavailable</h1>"))
	c := newTestClient(t, p.srv.URL, 3, nil)
	_, err := c.StartCall(context.Background(), mustPhone(t))
	assertKind(t, err, flashcall.ErrUnavailable, OpStart)
	if n := len(p.requests()); n != 1 {
		t.Fatalf("provider got %d requests, want 1", n)
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	obs := &countingObserver{}
	c := newTestClient(t, "http://"+addr, 3, func(cfg *Config) { cfg.Observer = obs })
	_, err = c.StartCall(context.Background(), mustPhone(t))
	e := assertKind(t, err, flashcall.ErrUnavailable, OpStart)
	if e.Sent {
		t.Fatal("Sent = true for a refused connection")
	}
	if got := obs.list(); len(got) != 1+c.dialRetries {
		t.Fatalf("attempts = %v, want %d", got, 1+c.dialRetries)
	}
	_, err = c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
	assertKind(t, err, flashcall.ErrUnavailable, OpStatus)
	if got := obs.list(); len(got) != 1+c.dialRetries+c.statusAttempts {
		t.Fatalf("attempts = %v", got)
	}
}

func TestContextCancellation(t *testing.T) {
	p := blockingProvider(t, 5*time.Second, sampleV3Async)
	c := newTestClient(t, p.srv.URL, 1, nil) // synchronous: long HTTP timeout

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := c.StartCall(ctx, mustPhone(t))
	e := assertKind(t, err, flashcall.ErrUnavailable, OpStart)
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("cancellation not honoured: %s", d)
	}
	if !e.Sent || !strings.Contains(e.Message, "caller") {
		t.Fatalf("error = %#v", e)
	}
	if n := len(p.requests()); n != 1 {
		t.Fatalf("requests = %d, want 1", n)
	}

	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = c.StartCall(done, mustPhone(t))
	if e := assertKind(t, err, flashcall.ErrUnavailable, OpStart); e.Sent {
		t.Fatal("Sent = true with a context canceled before sending")
	}
	c3 := newTestClient(t, p.srv.URL, 3, nil)
	_, err = c3.CallStatus(done, sampleStatusCallID, mustPhone(t))
	assertKind(t, err, flashcall.ErrUnavailable, OpStatus)
	if n := len(p.requests()); n != 1 {
		t.Fatalf("requests = %d after canceled calls, want 1", n)
	}
}

func TestNewValidation(t *testing.T) {
	good := func() Config {
		return Config{BaseURL: "http://127.0.0.1:1/", Token: testToken, APIVersion: 3, Timeout: 30 * time.Second, CodeLength: 4}
	}
	long := strings.Repeat("ab12", 16)
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"good", func(*Config) {}, true},
		{"64 hex token", func(c *Config) { c.Token = long }, true},
		{"defaults", func(c *Config) { *c = Config{Token: testToken} }, true},
		{"empty token", func(c *Config) { c.Token = "" }, false},
		{"31 chars", func(c *Config) { c.Token = testToken[:31] }, false},
		{"33 chars", func(c *Config) { c.Token = testToken + "a" }, false},
		{"upper case", func(c *Config) { c.Token = strings.ToUpper(testToken) }, false},
		{"not hex", func(c *Config) { c.Token = "0123456789abcdef0123456789abcdeg" }, false},
		{"relative URL", func(c *Config) { c.BaseURL = "/api" }, false},
		{"ftp URL", func(c *Config) { c.BaseURL = "ftp://example.com/" }, false},
		{"no host", func(c *Config) { c.BaseURL = "http:///x" }, false},
		{"URL with credentials", func(c *Config) { c.BaseURL = "https://u:p@example.com/" }, false},
		{"URL with query", func(c *Config) { c.BaseURL = "https://example.com/?a=1" }, false},
		{"version 4", func(c *Config) { c.APIVersion = 4 }, false},
		{"version -1", func(c *Config) { c.APIVersion = -1 }, false},
		{"timeout 1s", func(c *Config) { c.Timeout = time.Second }, false},
		{"timeout 100s", func(c *Config) { c.Timeout = 100 * time.Second }, false},
		{"timeout 2.5s", func(c *Config) { c.Timeout = 2500 * time.Millisecond }, false},
		{"timeout 2s", func(c *Config) { c.Timeout = 2 * time.Second }, true},
		{"timeout 99s", func(c *Config) { c.Timeout = 99 * time.Second }, true},
		{"code length 3", func(c *Config) { c.CodeLength = 3 }, false},
		{"code length 8", func(c *Config) { c.CodeLength = 8 }, false},
		{"code length 7", func(c *Config) { c.CodeLength = 7 }, true},
		{"v1 ignores code length", func(c *Config) { c.APIVersion = 1; c.CodeLength = 9 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.mutate(&cfg)
			c, err := New(cfg)
			if tt.ok {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %+v", c)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if cfg.Token != "" && len(cfg.Token) > 8 && strings.Contains(err.Error(), cfg.Token[:8]) {
				t.Fatalf("error echoes the token: %v", err)
			}
		})
	}
	c, err := New(Config{Token: testToken})
	if err != nil || c.APIVersion() != 3 || c.Name() != "callpass" || c.timeoutSec != 30 || c.codeLen != 4 || c.base != "https://api.callpass.sp-com.ru" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	d := DefaultConfig(testToken)
	if !d.Async || d.APIVersion != 3 || d.Timeout != DefaultTimeout {
		t.Fatalf("DefaultConfig = %+v", d)
	}
	if c, err := New(Config{Token: testToken, APIVersion: 1, Async: true}); err != nil || !c.synchronous() {
		t.Fatalf("v1 must be synchronous: %v", err)
	}
	// v1 has no status method; the challenge service does not poll it.
	for v, want := range map[int]bool{1: false, 2: true, 3: true} {
		if c, err := New(Config{Token: testToken, APIVersion: v}); err != nil || c.CanReportStatus() != want {
			t.Fatalf("v%d CanReportStatus() = %v, want %v (%v)", v, c.CanReportStatus(), want, err)
		}
	}
}

func TestLogsAndErrorsKeepSecrets(t *testing.T) {
	var buf bytes.Buffer
	// Times and durations are masked: their digits are the clock's, and a
	// nanosecond field holds "4610" now and then.
	mask := func(_ []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.TimeKey:
			return slog.Attr{}
		case "duration":
			return slog.String("duration", "D")
		}
		return a
	}
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: mask}))
	// Every path that quotes the body, each with a v1/v2 code ("0446") in
	// it, and the document's answers.
	tests := []struct {
		status int
		ctype  string
		body   string
	}{
		{200, "application/json", sampleV3Async},
		{200, "application/json", sampleDestination},
		{200, "text/html", "<html>oops 79001234567</html>"},
		{200, "text/html", "<html>your code is 0446</html>"},
		{502, "text/html", "<html>502 pin 0446</html>"},
		{401, "text/plain", "no 0446"},
		{500, "application/json", sampleV1NoAnswer}, // success envelope, error HTTP status
		{503, "application/json", `{"data":{"callid":"a","phone":"0446","result":"null"},"status":"success"}`},
		{200, "application/json", `{"data":{"callid":["a"],"pin":"0446","result":"NO_ANSWER"},"status":"success"}`}, // field of an unexpected type
		{200, "application/json", `{"data":{"callid":"a","pin":"0446","phone":1.5,"result":"null"},"status":"success"}`},
		{200, "application/json", `{"data":{"callid":"a","pin":"0446","result":"NO_AN`},      // truncated
		{200, "application/json", `{"data":{"callid":"a","pin":"0446","result":"null"}}`},    // no status
		{200, "application/json", `{"data":{"callid":"a","pin":"0446"},"status":"success"}`}, // no result
		{200, "application/json", `{"data":{"callid":"a","pin":"0446","result":7},"status":"success"}`},
		{200, "application/json", "{\"data\":{\"pin\":\"0446\",\"x\":\"\xff\"},\"status\":\"success\"}"}, // not UTF-8
		{200, "application/json", `{"status":"error","message":"pin 0446 refused"}`},
		{200, "application/json", `{"data":{"message":"pin 0446 failed","result":"error"},"status":"success"}`},
		// The token echoed back (testToken has no digit run to mask).
		{401, "application/json", `{"status":"error","message":"invalid token ` + testToken + `"}`},
		{200, "text/html", "<html><body>Authorization: Bearer " + testToken + "</body></html>"},
		{502, "text/html", "<html><body>" + strings.Repeat("x", 100) + testToken + "</body></html>"},
	}
	excerpts := 0
	for _, tt := range tests {
		for _, v := range []int{1, 2, 3} {
			p := newProvider(t, answer(tt.status, tt.ctype, tt.body))
			c := newTestClient(t, p.srv.URL, v, func(cfg *Config) { cfg.Logger = logger })
			_, err := c.StartCall(context.Background(), mustPhone(t))
			_, serr := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			for _, err := range []error{err, serr} {
				if err == nil {
					continue
				}
				if strings.Contains(err.Error(), "9001234567") || strings.Contains(err.Error(), "0446") {
					t.Fatalf("v%d %s: error leaks the number or the code: %v", v, tt.body, err)
				}
				if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), testToken[:12]) {
					t.Fatalf("v%d %s: error leaks the token: %v", v, tt.body, err)
				}
				var e *Error
				if errors.As(err, &e) && e.Excerpt != "" {
					excerpts++
				}
			}
		}
	}
	if excerpts < 20 {
		t.Fatalf("only %d errors carried an excerpt: the test no longer reaches the excerpt paths", excerpts)
	}
	out := buf.String()
	for _, secret := range []string{testToken, testToken[:12], testToken[20:], "9001234567", "4610", "2214610", "0446"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log output contains %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"+7 900 ***-**-67", "58597b21-2a59-480a-a3f0-96a1eec77ae9", `"outcome":"ok"`, `"outcome":"destination_not_allowed"`, `"api_version":3`, "duration"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log output lacks %q:\n%s", want, out)
		}
	}
}

func TestOutcomeLabels(t *testing.T) {
	tests := map[error]string{
		nil:                                OutcomeOK,
		flashcall.ErrUnauthorized:          OutcomeUnauthorized,
		flashcall.ErrInsufficientBalance:   OutcomeInsufficientBalance,
		flashcall.ErrDestinationNotAllowed: OutcomeDestinationNotAllowed,
		flashcall.ErrCallNotFound:          OutcomeNotFound,
		flashcall.ErrInvalidRequest:        OutcomeInvalidRequest,
		flashcall.ErrUnavailable:           OutcomeUnavailable,
		flashcall.ErrBadResponse:           OutcomeBadResponse,
	}
	for kind, want := range tests {
		var err error
		if kind != nil {
			err = &Error{Kind: kind}
		}
		if got := Outcome(err); got != want {
			t.Errorf("Outcome(%v) = %q, want %q", kind, got, want)
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\n\tb", "a b"},
		{"  lead", "lead"},
		{"call 79001234567 now", "call ########### now"},
		// Codes are 4 or more digits: no run that long survives. HTTP
		// statuses and other short numbers stay readable.
		{"pin 4610", "pin ####"},
		{`"pin":"0446"`, `"pin":"####"`},
		{`"phone":"2214610"`, `"phone":"#######"`},
		{"<h1>502 Bad Gateway</h1>", "<h1>502 Bad Gateway</h1>"},
		{"timeout 2 to 99, 123", "timeout 2 to 99, 123"},
		{"a1b22c333d4444", "a1b22c333d####"},
		{"\x00\x1b[31mred", "[31mred"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"zero\u200bwidth", "zerowidth"},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in, 120); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := strings.Repeat("я", 200)
	got := sanitize(long, 120)
	if len(got) > 120 || !utf8.ValidString(got) || len(got) < 118 {
		t.Fatalf("truncation broke UTF-8 or limit: %d bytes", len(got))
	}
	edge := strings.Repeat("x", 118) + "12345678"
	if got := sanitize(edge, 120); strings.ContainsAny(got, "12") {
		t.Fatalf("digit run crossing the cut not masked: %q", got)
	}
	edge = strings.Repeat("x", 118) + "0446"
	if got := sanitize(edge, 120); strings.ContainsAny(got, "04") {
		t.Fatalf("4-digit run crossing the cut not masked: %q", got)
	}
	// The content type is a header, not the body: its short numbers stay.
	if got := sanitizeHeader("text/html; charset=windows-1251"); got != "text/html; charset=windows-1251" {
		t.Fatalf("sanitizeHeader = %q", got)
	}
}

// slowRefusal fails every request after delay, before anything is sent (no
// connection is handed out, so GotConn never fires).
type slowRefusal struct {
	delay time.Duration
	n     atomic.Int32
}

func (s *slowRefusal) RoundTrip(r *http.Request) (*http.Response, error) {
	s.n.Add(1)
	select {
	case <-time.After(s.delay):
	case <-r.Context().Done():
	}
	return nil, errors.New("dial tcp: i/o timeout")
}

// TestStartRetriesOnlySoonAfterItBegan: a start is retried after a failure
// before sending only within the retry window. A dial that took long (a
// time-out, not a refusal) is not retried: each attempt may use the whole
// request timeout, and a start that outlasts Kratos's 30 s webhook timeout
// makes Kratos send the hook again, which places a second paid call.
func TestStartRetriesOnlySoonAfterItBegan(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
		want  int32
	}{
		{"fast refusals are retried", time.Millisecond, 3},
		{"a slow failure is not", 80 * time.Millisecond, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := &slowRefusal{delay: tc.delay}
			c := newTestClient(t, "http://127.0.0.1:1", 3, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: rt} })
			c.retryWindow = 50 * time.Millisecond
			_, err := c.StartCall(context.Background(), mustPhone(t))
			if e := assertKind(t, err, flashcall.ErrUnavailable, OpStart); e.Sent {
				t.Fatal("Sent = true for a request that never left")
			}
			if got := rt.n.Load(); got != tc.want {
				t.Fatalf("%d attempts, want %d", got, tc.want)
			}
		})
	}
}

// TestTokenRefusedUnderServerErrorPlacedNoCall: a start refused as a bad
// token under a 5xx (typed unauthorized since 85d4b13) placed no call, so
// it is NotPlaced and the challenge gives the start's limits back, as
// operations.md promises for a refused token: it was unauthorized (the
// credentials alert fired) but kept the 5xx's "may have placed a call",
// so every user's retry while the token was being fixed was counted and
// users were locked out once it was. An unexplained 5xx still may have
// placed a call.
func TestTokenRefusedUnderServerErrorPlacedNoCall(t *testing.T) {
	for _, tt := range []struct {
		status    int
		body      string
		kind      error
		notPlaced bool
	}{
		{500, `{"status":"error","message":"Invalid token"}`, flashcall.ErrUnauthorized, true},
		{503, `{"status":"success","data":{"result":"error","message":"bearer token expired"}}`, flashcall.ErrUnauthorized, true},
		{500, `{"status":"error","message":"Неверный токен"}`, flashcall.ErrUnauthorized, true},
		{500, `{"status":"error","message":"internal error"}`, flashcall.ErrUnavailable, false},
		{503, `{"status":"error","message":"authentication failed: database connection refused"}`, flashcall.ErrUnavailable, false},
	} {
		p := newProvider(t, answer(tt.status, "application/json", tt.body))
		c := newTestClient(t, p.srv.URL, 2, nil)
		_, err := c.StartCall(context.Background(), mustPhone(t))
		assertKind(t, err, tt.kind, OpStart)
		if got := flashcall.NotPlaced(err); got != tt.notPlaced {
			t.Errorf("HTTP %d %s: NotPlaced = %v, want %v", tt.status, tt.body, got, tt.notPlaced)
		}
		if n := len(p.requests()); n != 1 {
			t.Errorf("HTTP %d %s: provider got %d starts, want 1", tt.status, tt.body, n)
		}
	}
}
