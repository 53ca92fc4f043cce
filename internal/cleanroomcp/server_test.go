package cleanroomcp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const testToken = "0123456789abcdef0123456789abcdef"

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type resp struct {
	code int
	hdr  http.Header
	raw  string
	top  map[string]json.RawMessage
	data map[string]string
}

func (r resp) str(key string) string {
	var s string
	_ = json.Unmarshal(r.top[key], &s)
	return s
}

type reqOpt struct {
	method  string
	auth    *string // nil = correct bearer token
	ctype   *string // nil = form content type
	chunked bool    // no Content-Length (Transfer-Encoding: chunked)
}

func strp(s string) *string { return &s }

func do(t *testing.T, s *Server, path, body string, o reqOpt) resp {
	t.Helper()
	if o.method == "" {
		o.method = http.MethodPost
	}
	var rd io.Reader = strings.NewReader(body)
	if o.chunked {
		rd = io.MultiReader(strings.NewReader(body)) // hides the length
	}
	req, err := http.NewRequest(o.method, s.URL()+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	if o.chunked {
		req.ContentLength = -1
	}
	if o.auth == nil {
		req.Header.Set("Authorization", "Bearer "+testToken)
	} else if *o.auth != "" {
		req.Header.Set("Authorization", *o.auth)
	}
	if o.ctype == nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if *o.ctype != "" {
		req.Header.Set("Content-Type", *o.ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, res.StatusCode, res.Header, raw)
}

func decode(t *testing.T, code int, hdr http.Header, raw []byte) resp {
	t.Helper()
	r := resp{code: code, hdr: hdr, raw: string(raw)}
	if ct := hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if err := json.Unmarshal(raw, &r.top); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, raw)
	}
	if d, ok := r.top["data"]; ok {
		if err := json.Unmarshal(d, &r.data); err != nil {
			t.Fatalf("data is not an object of strings: %v: %s", err, raw)
		}
	}
	return r
}

func post(t *testing.T, s *Server, path, body string) resp {
	t.Helper()
	return do(t, s, path, body, reqOpt{})
}

// wantLevel1 checks a level-1 refusal.
func wantLevel1(t *testing.T, r resp, code int) {
	t.Helper()
	if r.code != code {
		t.Errorf("HTTP %d, want %d: %s", r.code, code, r.raw)
	}
	if r.str("status") != "error" || r.str("message") == "" {
		t.Errorf("want level-1 error with message, got %s", r.raw)
	}
	if _, ok := r.top["data"]; ok {
		t.Errorf("level-1 error has data: %s", r.raw)
	}
}

// wantStarted checks a level-2 start answer and returns callid and code.
func wantStarted(t *testing.T, r resp, field, result string, codeLen int) (string, string) {
	t.Helper()
	if r.code != 200 || r.str("status") != "success" {
		t.Fatalf("HTTP %d: %s", r.code, r.raw)
	}
	if len(r.data) != 3 {
		t.Errorf("data has %d keys, want callid/%s/result: %s", len(r.data), field, r.raw)
	}
	id, code := r.data["callid"], r.data[field]
	if !uuidV4.MatchString(id) {
		t.Errorf("callid %q is not a UUID v4", id)
	}
	if len(code) != codeLen || !allDigits(code) {
		t.Errorf("%s = %q, want %d digits", field, code, codeLen)
	}
	if r.data["result"] != result {
		t.Errorf("result = %q, want %q", r.data["result"], result)
	}
	return id, code
}

const okStart = "dn=79991234567&timeout=5"

func TestRefusals(t *testing.T) {
	cases := []struct {
		name  string
		v     Variant
		path  string
		body  string
		opt   reqOpt
		code  int
		start bool // counts as a start request
	}{
		{"GET", Variant{}, "/api/v1.0/start-call-password/", okStart, reqOpt{method: "GET"}, 405, true},
		{"PUT", Variant{}, "/api/v2.0/get-call-password-status/", "callid=x", reqOpt{method: "PUT"}, 405, false},
		{"no auth", Variant{}, "/api/v1.0/start-call-password/", okStart, reqOpt{auth: strp("")}, 401, true},
		{"wrong token", Variant{}, "/api/v1.0/start-call-password/", okStart, reqOpt{auth: strp("Bearer " + strings.Repeat("f", 32))}, 401, true},
		{"upper-case token", Variant{}, "/api/v1.0/start-call-password/", okStart, reqOpt{auth: strp("Bearer " + strings.ToUpper(testToken))}, 401, true},
		{"no scheme", Variant{}, "/api/v1.0/start-call-password/", okStart, reqOpt{auth: strp(testToken)}, 401, true},
		{"basic scheme", Variant{}, "/api/v1.0/start-call-password/", okStart, reqOpt{auth: strp("Basic " + testToken)}, 401, true},
		{"two spaces", Variant{}, "/api/v1.0/start-call-password/", okStart, reqOpt{auth: strp("Bearer  " + testToken)}, 401, true},
		{"unknown path", Variant{}, "/api/v4.0/start-call-password/", okStart, reqOpt{}, 404, false},
		{"v1 status", Variant{}, "/api/v1.0/get-call-password-status/", "callid=x", reqOpt{}, 404, false},
		{"start without slash", Variant{}, "/api/v1.0/start-call-password", okStart, reqOpt{}, 404, true},
		{"double slash", Variant{}, "//api/v1.0/start-call-password/", okStart, reqOpt{}, 404, false},
		{"root", Variant{}, "/", okStart, reqOpt{}, 404, false},
		{"no dn", Variant{}, "/api/v1.0/start-call-password/", "timeout=5", reqOpt{}, 400, true},
		{"empty dn", Variant{}, "/api/v1.0/start-call-password/", "dn=&timeout=5", reqOpt{}, 400, true},
		{"dn 10 digits", Variant{}, "/api/v1.0/start-call-password/", "dn=7999123456&timeout=5", reqOpt{}, 400, true},
		{"dn 16 digits", Variant{}, "/api/v1.0/start-call-password/", "dn=7999123456789012&timeout=5", reqOpt{}, 400, true},
		{"dn starts with 8", Variant{}, "/api/v1.0/start-call-password/", "dn=89991234567&timeout=5", reqOpt{}, 400, true},
		{"dn with plus", Variant{}, "/api/v1.0/start-call-password/", "dn=%2B79991234567&timeout=5", reqOpt{}, 400, true},
		{"dn with space", Variant{}, "/api/v1.0/start-call-password/", "dn=7999+1234567&timeout=5", reqOpt{}, 400, true},
		{"dn with newline", Variant{}, "/api/v1.0/start-call-password/", "dn=79991234567%0A&timeout=5", reqOpt{}, 400, true},
		{"dn twice", Variant{}, "/api/v1.0/start-call-password/", "dn=79991234567&dn=79991234568&timeout=5", reqOpt{}, 400, true},
		{"no timeout", Variant{}, "/api/v1.0/start-call-password/", "dn=79991234567", reqOpt{}, 400, true},
		{"timeout 1", Variant{}, "/api/v1.0/start-call-password/", "dn=79991234567&timeout=1", reqOpt{}, 400, true},
		{"timeout 100", Variant{}, "/api/v1.0/start-call-password/", "dn=79991234567&timeout=100", reqOpt{}, 400, true},
		{"timeout float", Variant{}, "/api/v1.0/start-call-password/", "dn=79991234567&timeout=5.0", reqOpt{}, 400, true},
		{"timeout signed", Variant{}, "/api/v1.0/start-call-password/", "dn=79991234567&timeout=%2B5", reqOpt{}, 400, true},
		{"timeout word", Variant{}, "/api/v2.0/start-call-password/", "dn=79991234567&timeout=five", reqOpt{}, 400, true},
		{"async 2", Variant{}, "/api/v2.0/start-call-password/", okStart + "&async=2", reqOpt{}, 400, true},
		{"async true", Variant{}, "/api/v3.0/start-call-password/", okStart + "&async=true", reqOpt{}, 400, true},
		{"async empty", Variant{}, "/api/v3.0/start-call-password/", okStart + "&async=", reqOpt{}, 400, true},
		{"params in query", Variant{}, "/api/v1.0/start-call-password/?" + okStart, "", reqOpt{}, 400, true},
		{"malformed body", Variant{}, "/api/v1.0/start-call-password/", "dn=%zz&timeout=5", reqOpt{}, 400, true},
		{"status no param", Variant{}, "/api/v2.0/get-call-password-status/", "", reqOpt{}, 400, false},
		{"status empty param", Variant{}, "/api/v3.0/get-call-password-status/", "callid=", reqOpt{}, 400, false},
		{"status twice", Variant{}, "/api/v2.0/get-call-password-status/", "callid=a&callid=b", reqOpt{}, 400, false},
		{"balance low still checks params", Variant{BalanceLow: true}, "/api/v1.0/start-call-password/", "dn=1", reqOpt{}, 400, true},
		{"balance low still checks auth", Variant{BalanceLow: true}, "/api/v1.0/start-call-password/", okStart, reqOpt{auth: strp("")}, 401, true},
		{"strict: no content type", Variant{StrictHeaders: true}, "/api/v1.0/start-call-password/", okStart, reqOpt{ctype: strp("")}, 415, true},
		{"strict: json content type", Variant{StrictHeaders: true}, "/api/v1.0/start-call-password/", okStart, reqOpt{ctype: strp("application/json")}, 415, true},
		{"strict: text/plain", Variant{StrictHeaders: true}, "/api/v2.0/get-call-password-status/", "callid=x", reqOpt{ctype: strp("text/plain")}, 415, false},
		{"strict: latin1 charset", Variant{StrictHeaders: true}, "/api/v1.0/start-call-password/", okStart, reqOpt{ctype: strp("application/x-www-form-urlencoded; charset=windows-1251")}, 415, true},
		{"strict: chunked", Variant{StrictHeaders: true}, "/api/v1.0/start-call-password/", okStart, reqOpt{chunked: true}, 411, true},
		{"strict: wrong auth after headers", Variant{StrictHeaders: true}, "/api/v1.0/start-call-password/", okStart, reqOpt{auth: strp("Bearer x")}, 401, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, testToken, tc.v)
			r := do(t, s, tc.path, tc.body, tc.opt)
			wantLevel1(t, r, tc.code)
			if tc.code == 405 && r.hdr.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST")
			}
			if tc.code == 401 && !strings.HasPrefix(r.hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			if n := len(s.Calls()); n != 0 {
				t.Errorf("%d calls placed by a refused request", n)
			}
			want := 0
			if tc.start {
				want = 1
			}
			if n := s.StartRequests(); n != want {
				t.Errorf("StartRequests = %d, want %d", n, want)
			}
			if n := len(s.Requests()); n != 1 {
				t.Errorf("Requests recorded %d, want 1", n)
			}
		})
	}
}

func TestStartVersionsAndFields(t *testing.T) {
	cases := []struct {
		name     string
		v        Variant
		path     string
		body     string
		version  int
		field    string
		absent   string
		codeLen  int
		result   string
		async    bool
		asyncArg string
	}{
		{"v1 default", Variant{}, "/api/v1.0/start-call-password/", okStart, 1, "pin", "phone", 4, "NO_ANSWER", false, ""},
		{"v1 ignores async", Variant{}, "/api/v1.0/start-call-password/", okStart + "&async=1", 1, "pin", "phone", 4, "NO_ANSWER", false, ""},
		{"v1 ignores bad async", Variant{}, "/api/v1.0/start-call-password/", okStart + "&async=x", 1, "pin", "phone", 4, "NO_ANSWER", false, ""},
		{"v1 length 5", Variant{CodeLength: 5}, "/api/v1.0/start-call-password/", okStart, 1, "pin", "phone", 5, "NO_ANSWER", false, ""},
		{"v1 length 6", Variant{CodeLength: 6}, "/api/v1.0/start-call-password/", okStart, 1, "pin", "phone", 6, "NO_ANSWER", false, ""},
		{"v1 final busy", Variant{FinalStatus: "USER_BUSY"}, "/api/v1.0/start-call-password/", okStart, 1, "pin", "phone", 4, "USER_BUSY", false, ""},
		{"v1 long dn timeout bounds", Variant{}, "/api/v1.0/start-call-password/", "dn=771234567890123&timeout=99", 1, "pin", "phone", 4, "NO_ANSWER", false, ""},
		{"v1 timeout 2", Variant{}, "/api/v1.0/start-call-password/", "dn=79991234567&timeout=2", 1, "pin", "phone", 4, "NO_ANSWER", false, ""},
		{"v2 no async is sync", Variant{}, "/api/v2.0/start-call-password/", okStart, 2, "phone", "pin", 4, "NO_ANSWER", false, ""},
		{"v2 async=0 phone", Variant{}, "/api/v2.0/start-call-password/", okStart + "&async=0", 2, "phone", "pin", 4, "NO_ANSWER", false, ""},
		{"v2 async=1 phone", Variant{}, "/api/v2.0/start-call-password/", okStart + "&async=1", 2, "phone", "pin", 4, "null", true, ""},
		{"v2 explicit phone", Variant{V2CodeField: "phone", CodeLength: 5}, "/api/v2.0/start-call-password/", okStart + "&async=1", 2, "phone", "pin", 5, "null", true, ""},
		{"v2 pin async=1", Variant{V2CodeField: "pin"}, "/api/v2.0/start-call-password/", okStart + "&async=1", 2, "pin", "phone", 4, "null", true, ""},
		{"v2 pin async=0", Variant{V2CodeField: "pin", CodeLength: 5}, "/api/v2.0/start-call-password/", okStart + "&async=0", 2, "pin", "phone", 5, "NO_ANSWER", false, ""},
		{"v2 sync final", Variant{FinalStatus: "NORMAL_CLEARING"}, "/api/v2.0/start-call-password/", okStart + "&async=0", 2, "phone", "pin", 4, "NORMAL_CLEARING", false, ""},
		{"v3 async=1", Variant{CodeLength: 5, V2CodeField: "pin"}, "/api/v3.0/start-call-password/", okStart + "&async=1", 3, "phone", "pin", 7, "null", true, ""},
		{"v3 async=0", Variant{FinalStatus: "CALL_REJECTED"}, "/api/v3.0/start-call-password/", okStart + "&async=0", 3, "phone", "pin", 7, "CALL_REJECTED", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, testToken, tc.v)
			r := post(t, s, tc.path, tc.body)
			id, code := wantStarted(t, r, tc.field, tc.result, tc.codeLen)
			if _, ok := r.data[tc.absent]; ok {
				t.Errorf("answer has %q: %s", tc.absent, r.raw)
			}
			if _, ok := r.top["message"]; ok {
				t.Errorf("success answer has a level-1 message: %s", r.raw)
			}
			calls := s.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1", len(calls))
			}
			c := calls[0]
			form, _ := url.ParseQuery(tc.body)
			if c.Version != tc.version || c.CallID != id || c.Code != code || c.Async != tc.async || c.DN != form.Get("dn") {
				t.Errorf("call %+v does not match answer %s", c, r.raw)
			}
			if fmt.Sprint(c.Timeout) != form.Get("timeout") {
				t.Errorf("Timeout %d, sent %q", c.Timeout, form.Get("timeout"))
			}
			if len(c.CallerID) != 11 || c.CallerID[0] != '7' || !allDigits(c.CallerID) || !strings.HasSuffix(c.CallerID, code) {
				t.Errorf("CallerID %q is not an 11-digit +7 number ending in %q", c.CallerID, code)
			}
			if s.StartRequests() != 1 {
				t.Errorf("StartRequests = %d", s.StartRequests())
			}
		})
	}
}

func TestStatusPolling(t *testing.T) {
	cases := []struct {
		name    string
		v       Variant
		version string
		async   string
		want    []string
	}{
		{"v2 final at first poll", Variant{}, "v2.0", "1", []string{"NO_ANSWER", "NO_ANSWER"}},
		{"v2 two pending", Variant{PendingPolls: 2}, "v2.0", "1", []string{"null", "null", "NO_ANSWER", "NO_ANSWER"}},
		{"v3 one pending busy", Variant{PendingPolls: 1, FinalStatus: "USER_BUSY"}, "v3.0", "1", []string{"null", "USER_BUSY"}},
		{"v3 unknown status kept", Variant{FinalStatus: "SUBSCRIBER_ABSENT"}, "v3.0", "1", []string{"SUBSCRIBER_ABSENT"}},
		{"sync call never pending", Variant{PendingPolls: 3, FinalStatus: "NORMAL_CLEARING"}, "v2.0", "0", []string{"NORMAL_CLEARING"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, testToken, tc.v)
			r := post(t, s, "/api/"+tc.version+"/start-call-password/", okStart+"&async="+tc.async)
			id := r.data["callid"]
			for i, want := range tc.want {
				r := post(t, s, "/api/"+tc.version+"/get-call-password-status/", "callid="+id)
				if r.code != 200 || r.str("status") != "success" {
					t.Fatalf("poll %d: HTTP %d %s", i, r.code, r.raw)
				}
				if r.data["result"] != want || r.data["callid"] != id || len(r.data) != 2 {
					t.Errorf("poll %d: %s, want result %q for %s", i, r.raw, want, id)
				}
			}
		})
	}
}

func TestStatusParamAndSlash(t *testing.T) {
	cases := []struct {
		name  string
		v     Variant
		path  string // v2/v3 status path
		param string
		code  int // 200 = found, otherwise level-1 code
	}{
		{"both names: callid", Variant{}, "/api/v2.0/get-call-password-status/", "callid", 200},
		{"both names: callId", Variant{}, "/api/v2.0/get-call-password-status", "callId", 200},
		{"both names: CALLID", Variant{}, "/api/v2.0/get-call-password-status", "CALLID", 400},
		{"callId only: callId", Variant{StatusParam: "callId"}, "/api/v2.0/get-call-password-status/", "callId", 200},
		{"callId only: callid", Variant{StatusParam: "callId"}, "/api/v2.0/get-call-password-status/", "callid", 400},
		{"callid only: callid", Variant{StatusParam: "callid"}, "/api/v3.0/get-call-password-status/", "callid", 200},
		{"callid only: callId", Variant{StatusParam: "callid"}, "/api/v3.0/get-call-password-status/", "callId", 400},
		{"with: slash", Variant{StatusSlash: "with"}, "/api/v2.0/get-call-password-status/", "callid", 200},
		{"with: no slash", Variant{StatusSlash: "with"}, "/api/v2.0/get-call-password-status", "callid", 404},
		{"with: v3 no slash", Variant{StatusSlash: "with"}, "/api/v3.0/get-call-password-status", "callid", 404},
		{"without: no slash", Variant{StatusSlash: "without"}, "/api/v2.0/get-call-password-status", "callid", 200},
		{"without: slash", Variant{StatusSlash: "without"}, "/api/v2.0/get-call-password-status/", "callid", 404},
		{"without: v3 slash", Variant{StatusSlash: "without"}, "/api/v3.0/get-call-password-status/", "callid", 404},
		{"without: v3 no slash", Variant{StatusSlash: "without"}, "/api/v3.0/get-call-password-status", "callid", 200},
		{"both: v3 no slash", Variant{}, "/api/v3.0/get-call-password-status", "callid", 200},
		{"both: v3 slash", Variant{}, "/api/v3.0/get-call-password-status/", "callid", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, testToken, tc.v)
			id := post(t, s, "/api/v2.0/start-call-password/", okStart+"&async=1").data["callid"]
			r := post(t, s, tc.path, tc.param+"="+id)
			if tc.code != 200 {
				wantLevel1(t, r, tc.code)
				return
			}
			if r.code != 200 || r.data["callid"] != id || r.data["result"] != "NO_ANSWER" {
				t.Errorf("HTTP %d %s", r.code, r.raw)
			}
			// An unknown id on the accepted name and path is level 2.
			r = post(t, s, tc.path, tc.param+"=4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d")
			const want = `{"data":{"message":"can't find callid","result":"error"},"status":"success"}`
			if r.code != 200 || r.raw != want {
				t.Errorf("unknown id: HTTP %d %s, want 200 %s", r.code, r.raw, want)
			}
		})
	}
}

func TestUnknownCallID(t *testing.T) {
	const want = `{"data":{"message":"can't find callid","result":"error"},"status":"success"}`
	for _, id := range []string{"4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d", "not-a-uuid", " "} {
		s := New(t, testToken, Variant{})
		r := post(t, s, "/api/v2.0/get-call-password-status/", "callid="+url.QueryEscape(id))
		if r.code != 200 || r.raw != want {
			t.Errorf("id %q: HTTP %d %s", id, r.code, r.raw)
		}
	}
}

func TestBalanceLow(t *testing.T) {
	for _, path := range []string{"/api/v1.0/start-call-password/", "/api/v2.0/start-call-password/", "/api/v3.0/start-call-password/"} {
		for _, async := range []string{"0", "1"} {
			s := New(t, testToken, Variant{BalanceLow: true})
			r := post(t, s, path, okStart+"&async="+async)
			if r.code != 200 || r.str("status") != "success" || r.str("message") != "balance is lower than limit for that call" {
				t.Errorf("%s async=%s: HTTP %d %s", path, async, r.code, r.raw)
			}
			if _, ok := r.top["data"]; ok || len(r.top) != 2 {
				t.Errorf("%s: want only status and message: %s", path, r.raw)
			}
			if len(s.Calls()) != 0 || s.StartRequests() != 1 {
				t.Errorf("%s: calls %d, starts %d", path, len(s.Calls()), s.StartRequests())
			}
			// Status still works (unknown id).
			if r := post(t, s, "/api/v2.0/get-call-password-status/", "callid=x"); r.data["message"] != "can't find callid" {
				t.Errorf("status with BalanceLow: %s", r.raw)
			}
		}
	}
}

func TestHeadersLenientVsStrict(t *testing.T) {
	cases := []struct {
		name   string
		strict bool
		opt    reqOpt
		code   int
	}{
		{"lenient: chunked", false, reqOpt{chunked: true}, 200},
		{"lenient: no content type", false, reqOpt{ctype: strp("")}, 200},
		{"lenient: text/plain", false, reqOpt{ctype: strp("text/plain")}, 200},
		{"strict: correct", true, reqOpt{}, 200},
		{"strict: utf-8 charset", true, reqOpt{ctype: strp("application/x-www-form-urlencoded; charset=UTF-8")}, 200},
		{"strict: chunked", true, reqOpt{chunked: true}, 411},
		{"strict: no content type", true, reqOpt{ctype: strp("")}, 415},
		{"strict: multipart", true, reqOpt{ctype: strp("multipart/form-data; boundary=x")}, 415},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, testToken, Variant{StrictHeaders: tc.strict})
			r := do(t, s, "/api/v1.0/start-call-password/", okStart, tc.opt)
			if tc.code == 200 {
				wantStarted(t, r, "pin", "NO_ANSWER", 4)
			} else {
				wantLevel1(t, r, tc.code)
			}
		})
	}
}

// rawPost sends a hand-made HTTP/1.1 request (to lie about Content-Length)
// and half-closes the connection.
func rawPost(t *testing.T, s *Server, path, headers, body string) resp {
	t.Helper()
	u, _ := url.Parse(s.URL())
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := "POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: Bearer " + testToken +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n" + headers + "\r\n" + body
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return decode(t, res.StatusCode, res.Header, raw)
}

func TestContentLengthMismatch(t *testing.T) {
	for _, strict := range []bool{false, true} {
		s := New(t, testToken, Variant{StrictHeaders: strict})
		// Body shorter than announced: a 400 in both modes.
		r := rawPost(t, s, "/api/v1.0/start-call-password/", fmt.Sprintf("Content-Length: %d\r\n", len(okStart)+10), okStart)
		wantLevel1(t, r, 400)
		// Correct length through the same raw path works.
		r = rawPost(t, s, "/api/v1.0/start-call-password/", fmt.Sprintf("Content-Length: %d\r\n", len(okStart)), okStart)
		wantStarted(t, r, "pin", "NO_ANSWER", 4)
		// No Content-Length and no chunking: Go reads an empty body, so a strict
		// server says 411, a lenient one misses dn.
		r = rawPost(t, s, "/api/v1.0/start-call-password/", "", "")
		if strict {
			wantLevel1(t, r, 411)
		} else {
			wantLevel1(t, r, 400)
		}
		if len(s.Calls()) != 1 {
			t.Errorf("strict=%v: %d calls", strict, len(s.Calls()))
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := New(t, testToken, Variant{})
	r := post(t, s, "/api/v1.0/start-call-password/", okStart+"&pad="+strings.Repeat("x", 70<<10))
	wantLevel1(t, r, 413)
}

func TestRequestsRecorded(t *testing.T) {
	s := New(t, testToken, Variant{})
	post(t, s, "/api/v1.0/start-call-password/", okStart)
	do(t, s, "/api/v2.0/start-call-password/", "dn=79991234567&timeout=7&async=1", reqOpt{auth: strp("Bearer nope"), ctype: strp("text/plain")})
	do(t, s, "/api/v3.0/get-call-password-status/", "callid=abc", reqOpt{method: "GET"})
	do(t, s, "/api/v2.0/start-call-password/", okStart, reqOpt{chunked: true})
	reqs := s.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := []Request{
		{Method: "POST", Path: "/api/v1.0/start-call-password/", ContentType: "application/x-www-form-urlencoded", ContentLength: int64(len(okStart)), Auth: "Bearer " + testToken},
		{Method: "POST", Path: "/api/v2.0/start-call-password/", ContentType: "text/plain", ContentLength: 32, Auth: "Bearer nope"},
		{Method: "GET", Path: "/api/v3.0/get-call-password-status/", ContentType: "application/x-www-form-urlencoded", ContentLength: 10, Auth: "Bearer " + testToken},
		{Method: "POST", Path: "/api/v2.0/start-call-password/", ContentType: "application/x-www-form-urlencoded", ContentLength: -1, Auth: "Bearer " + testToken},
	}
	for i, w := range want {
		g := reqs[i]
		if g.Method != w.Method || g.Path != w.Path || g.ContentType != w.ContentType || g.ContentLength != w.ContentLength || g.Auth != w.Auth {
			t.Errorf("request %d = %+v, want %+v", i, g, w)
		}
	}
	if reqs[1].Form.Get("timeout") != "7" || reqs[2].Form.Get("callid") != "abc" || reqs[0].Form.Get("dn") != "79991234567" {
		t.Errorf("forms not recorded: %v %v %v", reqs[0].Form, reqs[1].Form, reqs[2].Form)
	}
	// The returned slice is a copy.
	reqs[0].Form.Set("dn", "x")
	if s.Requests()[0].Form.Get("dn") != "79991234567" {
		t.Error("Requests() shares its forms with the server")
	}
	if s.StartRequests() != 3 || len(s.Calls()) != 2 {
		t.Errorf("StartRequests %d, calls %d", s.StartRequests(), len(s.Calls()))
	}
}

func TestRandomness(t *testing.T) {
	s := New(t, testToken, Variant{})
	ids := map[string]bool{}
	leadingZero, v3LeadingZeroSuffix := false, false
	for i := 0; i < 300; i++ {
		r := post(t, s, "/api/v1.0/start-call-password/", okStart)
		id, code := wantStarted(t, r, "pin", "NO_ANSWER", 4)
		if ids[id] {
			t.Fatalf("duplicate callid %s", id)
		}
		ids[id] = true
		if code[0] == '0' {
			leadingZero = true
		}
		r = post(t, s, "/api/v3.0/start-call-password/", okStart+"&async=1")
		_, phone := wantStarted(t, r, "phone", "null", 7)
		if phone[0] < '2' {
			t.Errorf("v3 phone %q starts with %c", phone, phone[0])
		}
		if phone[3] == '0' {
			v3LeadingZeroSuffix = true
		}
	}
	if !leadingZero || !v3LeadingZeroSuffix {
		t.Errorf("300 codes without a leading zero (v1 %v, v3 suffix %v): digits are not uniform", leadingZero, v3LeadingZeroSuffix)
	}
	// Calls are recorded in order.
	calls := s.Calls()
	for i, c := range calls {
		if want := 1 + 2*(i%2); c.Version != want {
			t.Fatalf("call %d version %d, want %d", i, c.Version, want)
		}
	}
}

func TestConcurrent(t *testing.T) {
	s := New(t, testToken, Variant{PendingPolls: 1})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.DefaultClient.Do(mustReq(t, s, "/api/v2.0/start-call-password/", okStart+"&async=1"))
			if err != nil {
				t.Error(err)
				return
			}
			var body struct {
				Data map[string]string `json:"data"`
			}
			_ = json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			res, err = http.DefaultClient.Do(mustReq(t, s, "/api/v2.0/get-call-password-status/", "callid="+body.Data["callid"]))
			if err != nil {
				t.Error(err)
				return
			}
			_ = json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if body.Data["result"] != "null" {
				t.Errorf("first poll %v, want null", body.Data)
			}
		}()
	}
	wg.Wait()
	if len(s.Calls()) != 20 || s.StartRequests() != 20 || len(s.Requests()) != 40 {
		t.Errorf("calls %d starts %d requests %d", len(s.Calls()), s.StartRequests(), len(s.Requests()))
	}
}

func mustReq(t *testing.T, s *Server, path, body string) *http.Request {
	req, err := http.NewRequest("POST", s.URL()+strings.TrimPrefix(path, "/"), strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return nil
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func TestURL(t *testing.T) {
	s := New(t, testToken, Variant{})
	if !strings.HasPrefix(s.URL(), "http://") || !strings.HasSuffix(s.URL(), "/") || strings.HasSuffix(s.URL(), "//") {
		t.Errorf("URL() = %q", s.URL())
	}
}

// fatalTB records Fatalf instead of stopping the real test.
type fatalTB struct {
	testing.TB
	failed bool
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}

func TestInvalidVariant(t *testing.T) {
	cases := []struct {
		name  string
		token string
		v     Variant
	}{
		{"empty token", "", Variant{}},
		{"param", testToken, Variant{StatusParam: "CallID"}},
		{"slash", testToken, Variant{StatusSlash: "yes"}},
		{"field", testToken, Variant{V2CodeField: "code"}},
		{"length 8", testToken, Variant{CodeLength: 8}},
		{"length -1", testToken, Variant{CodeLength: -1}},
		{"pending -1", testToken, Variant{PendingPolls: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fatalTB{TB: t}
			func() {
				defer func() { _ = recover() }()
				New(f, tc.token, tc.v)
			}()
			if !f.failed {
				t.Error("New accepted an invalid Variant")
			}
		})
	}
}

// TestMissingParamUnknown: with MissingParamUnknown a status request under
// the other parameter name is the level-2 "can't find callid"; without it,
// a level-1 400.
func TestMissingParamUnknown(t *testing.T) {
	const cantFind = `{"data":{"message":"can't find callid","result":"error"},"status":"success"}`
	for _, unknown := range []bool{false, true} {
		s := New(t, testToken, Variant{StatusParam: "callId", MissingParamUnknown: unknown})
		id := post(t, s, "/api/v2.0/start-call-password/", okStart+"&async=1").data["callid"]
		r := post(t, s, "/api/v2.0/get-call-password-status/", "callid="+id)
		if unknown {
			if r.code != 200 || r.raw != cantFind {
				t.Errorf("MissingParamUnknown: HTTP %d %s, want 200 %s", r.code, r.raw, cantFind)
			}
		} else {
			wantLevel1(t, r, http.StatusBadRequest)
		}
		if r := post(t, s, "/api/v2.0/get-call-password-status/", "callId="+id); r.data["result"] != "NO_ANSWER" {
			t.Errorf("MissingParamUnknown %v: callId: HTTP %d %s", unknown, r.code, r.raw)
		}
	}
}
