package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

func ctl(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestControlCalls(t *testing.T) {
	t.Parallel()
	// Every call must still be pending when listed: with the default 50 ms
	// settle delay a slow run (-race, parallel tests on 2 cores) saw one settle.
	_, srv := newSim(t, func(c *sim.Config) { c.SettleDelay = time.Hour })
	var ids []string
	for _, num := range []string{dn, "79990000001", dn} {
		e := decode(t, post(t, srv, "/api/v2.0/start-call-password/", "dn="+num+"&timeout=2&async=1", nil))
		ids = append(ids, e.Data.CallID)
	}
	for _, q := range []string{"79001234567", "%2B79001234567", "89001234567", "%2B7%20(900)%20123-45-67"} {
		code, body := ctl(t, srv, http.MethodGet, "/sim/calls?dn="+q, "")
		var got struct{ Calls []sim.CallRecord }
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
			t.Fatalf("%s: %d %s %v", q, code, body, err)
		}
		if len(got.Calls) != 2 || got.Calls[0].CallID != ids[2] || got.Calls[1].CallID != ids[0] {
			t.Errorf("%s: calls %+v, want newest first %s, %s", q, got.Calls, ids[2], ids[0])
		}
		c := got.Calls[0]
		if c.DN != dn || len(c.Caller) != 11 || c.Code4 != c.Caller[7:] || c.Status != "null" || c.APIVersion != 2 || !c.Async {
			t.Errorf("record %+v", c)
		}
	}
	code, body := ctl(t, srv, http.MethodGet, "/sim/calls", "")
	var all struct{ Calls []sim.CallRecord }
	if err := json.Unmarshal([]byte(body), &all); err != nil || code != 200 || len(all.Calls) != 3 {
		t.Fatalf("all calls: %d %s", code, body)
	}
	if strings.Contains(body, `"settled_at"`) {
		t.Errorf("pending calls must omit settled_at: %s", body)
	}
	code, body = ctl(t, srv, http.MethodGet, "/sim/calls?dn=79991112233", "")
	if code != 200 || body != `{"calls":[]}` {
		t.Errorf("no calls: %d %s", code, body)
	}
	code, _ = ctl(t, srv, http.MethodPost, "/sim/calls", "")
	if code != http.StatusMethodNotAllowed {
		t.Errorf("POST /sim/calls: %d", code)
	}
}

func TestControlRequestsScriptsReset(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, func(c *sim.Config) {
		c.Scripts = map[string]sim.Outcome{"79990000001": sim.OutcomeRejected}
	})
	// Two accepted and one refused (bad token) start for dn.
	post(t, srv, "/api/v2.0/start-call-password/", "dn="+dn+"&timeout=2&async=1", nil)
	post(t, srv, "/api/v3.0/start-call-password/", "dn="+dn+"&timeout=2&async=1", nil)
	post(t, srv, "/api/v1.0/start-call-password/", "dn="+dn+"&timeout=2", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") })
	post(t, srv, "/api/v2.0/get-call-password-status/", "callid=x", nil) // not a start

	code, body := ctl(t, srv, http.MethodGet, "/sim/requests?dn=8-900-123-45-67", "")
	if code != 200 || body != `{"dn":"79001234567","requests":3}` {
		t.Errorf("requests: %d %s", code, body)
	}
	code, body = ctl(t, srv, http.MethodGet, "/sim/requests", "")
	if code != 200 || body != `{"total":3,"by_dn":{"79001234567":3}}` {
		t.Errorf("all requests: %d %s", code, body)
	}

	steps := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/sim/scripts", "", 200, `{"default":"no_answer","scripts":{"79990000001":"rejected"}}`},
		{"PUT", "/sim/scripts/+79001234567", `{"outcome":"busy"}`, 200, `{"dn":"79001234567","outcome":"busy","scripted":true}`},
		{"GET", "/sim/scripts/79001234567", "", 200, `{"dn":"79001234567","outcome":"busy","scripted":true}`},
		{"PUT", "/sim/scripts/79001234567", `{"outcome":"nope"}`, 400, ""},
		{"PUT", "/sim/scripts/79001234567", `not json`, 400, ""},
		{"PUT", "/sim/scripts/123", `{"outcome":"busy"}`, 400, ""},
		{"PUT", "/sim/default", `{"outcome":"answered"}`, 200, `{"outcome":"answered"}`},
		{"GET", "/sim/default", "", 200, `{"outcome":"answered"}`},
		{"PUT", "/sim/default", `{"outcome":""}`, 400, ""},
		{"GET", "/sim/scripts", "", 200, `{"default":"answered","scripts":{"79001234567":"busy","79990000001":"rejected"}}`},
		{"DELETE", "/sim/scripts/79001234567", "", 200, `{"dn":"79001234567","outcome":"answered","scripted":false}`},
		{"GET", "/sim/reset", "", 405, ""},
	}
	for _, st := range steps {
		code, body := ctl(t, srv, st.method, st.path, st.body)
		if code != st.code || (st.want != "" && body != st.want) {
			t.Errorf("%s %s %s: got %d %s, want %d %s", st.method, st.path, st.body, code, body, st.code, st.want)
		}
		if code >= 400 && !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("%s %s: error body %s", st.method, st.path, body)
		}
	}
	if o := s.Outcome(dn); o != sim.OutcomeAnswered {
		t.Errorf("outcome after delete = %s, want the default answered", o)
	}
	s.Script(dn, sim.OutcomeUnreachable)
	e := decode(t, post(t, srv, "/api/v1.0/start-call-password/", "dn="+dn+"&timeout=2", nil))
	if e.Data.Result != "SUBSCRIBER_ABSENT" {
		t.Errorf("scripted via Go: %+v", e.Data)
	}

	code, body = ctl(t, srv, http.MethodPost, "/sim/reset", "")
	if code != 200 || body != `{"status":"reset"}` {
		t.Errorf("reset: %d %s", code, body)
	}
	if len(s.Calls("")) != 0 || s.Requests("") != 0 || s.Requests(dn) != 0 {
		t.Errorf("reset kept calls %d / requests %d", len(s.Calls("")), s.Requests(""))
	}
	scripts, def := s.Scripts()
	if def != sim.OutcomeNoAnswer || len(scripts) != 1 || scripts["79990000001"] != sim.OutcomeRejected {
		t.Errorf("reset scripts %v default %s, want the config's", scripts, def)
	}
	code, body = ctl(t, srv, http.MethodGet, "/sim/outcomes", "")
	if code != 200 || !strings.Contains(body, `"destination_not_allowed"`) {
		t.Errorf("outcomes: %d %s", code, body)
	}
}

func TestPhonePage(t *testing.T) {
	t.Parallel()
	s, srv := newSim(t, nil)
	s.Script("79990000001", sim.OutcomeUnreachable)
	post(t, srv, "/api/v1.0/start-call-password/", "dn="+dn+"&timeout=2", nil)
	post(t, srv, "/api/v1.0/start-call-password/", "dn=79990000001&timeout=2", nil)
	c := s.Calls(dn)[0]
	// +7 495 XXX-XX-XX with the last 4 digits marked.
	shown := "+7 " + c.Caller[1:4] + " " + c.Caller[4:7] + "-"
	code4 := "<mark>" + c.Caller[7:9] + "-" + c.Caller[9:] + "</mark>"

	resp, err := srv.Client().Get(srv.URL + "/sim/phone")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	for _, want := range []string{shown + code4, "missed call", "+7 900 123-45-67", "+7 999 000-00-01", "unreachable", `http-equiv="refresh"`, `fetch("calls"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, bad := range []string{"http://", "https://"} { // self-contained: no CDN
		if strings.Contains(page, bad) {
			t.Errorf("page references %q", bad)
		}
	}

	_, page = ctl(t, srv, http.MethodGet, "/sim/phone?dn=%2B79990000001", "")
	if strings.Contains(page, "+7 900 123-45-67") || !strings.Contains(page, "+7 999 000-00-01") {
		t.Errorf("filtered page shows the wrong phones")
	}
	_, page = ctl(t, srv, http.MethodGet, "/sim/phone?dn=79995554433", "")
	if !strings.Contains(page, "+7 999 555-44-33") || !strings.Contains(page, "No calls yet") {
		t.Errorf("empty phone page: %s", page)
	}
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- sim.Serve(ctx, ln, sim.Config{Tokens: []string{token}, SettleDelay: time.Hour}, nil)
	}()
	url := "http://" + ln.Addr().String()
	resp, err := http.Get(url + "/sim/calls")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A synchronous start held by the hour-long settle delay is released on shutdown.
	got := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1.0/start-call-password/", strings.NewReader("dn="+dn+"&timeout=99"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", formCT)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	time.Sleep(100 * time.Millisecond)
	begin := time.Now()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	if body := <-got; !strings.Contains(body, `"result":"NO_ANSWER"`) {
		t.Errorf("held request got %s", body)
	}

	err = sim.ListenAndServe(context.Background(), "127.0.0.1:0", sim.Config{Tokens: []string{"short"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "token #1") {
		t.Errorf("invalid config: %v", err)
	}
}

func TestListenAndServeAddr(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := sim.ListenAndServe(ctx, "127.0.0.1:0", sim.Config{Tokens: []string{token}}, nil); err != nil {
		t.Errorf("ListenAndServe: %v", err)
	}
	err := sim.ListenAndServe(context.Background(), "bad:address:x", sim.Config{Tokens: []string{token}}, nil)
	if err == nil {
		t.Error("bad address accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  sim.Config
		want string // "" = valid
	}{
		{"minimal", sim.Config{Tokens: []string{token}}, ""},
		{"64 hex", sim.Config{Tokens: []string{token2}}, ""},
		{"full", sim.Config{Tokens: []string{token}, AllowedIPs: []string{"10.0.0.0/8", "192.168.1.5", "::1"},
			CallerPrefix: "7351", PinLength: 5, DefaultOutcome: sim.OutcomeBusy,
			Scripts: map[string]sim.Outcome{"+7 900 123-45-67": sim.OutcomeSlow}, MaxCalls: 5}, ""},
		{"no token", sim.Config{}, "at least one token"},
		{"upper hex", sim.Config{Tokens: []string{strings.ToUpper(token)}}, "token #1 must be 32 or 64 lower-case hex"},
		{"48 chars", sim.Config{Tokens: []string{token + token[:16]}}, "got 48 characters"},
		{"bad cidr", sim.Config{Tokens: []string{token}, AllowedIPs: []string{"10.0.0.0/33"}}, `allowed IP "10.0.0.0/33"`},
		{"bad ip", sim.Config{Tokens: []string{token}, AllowedIPs: []string{"example.com"}}, `allowed IP "example.com"`},
		{"negative settle", sim.Config{Tokens: []string{token}, SettleDelay: -time.Second}, "settle delay"},
		{"prefix letters", sim.Config{Tokens: []string{token}, CallerPrefix: "7a95"}, "caller prefix"},
		{"prefix too long", sim.Config{Tokens: []string{token}, CallerPrefix: "74951234"}, "caller prefix must be 1..7 digits"},
		{"pin length", sim.Config{Tokens: []string{token}, PinLength: 3}, "pin length"},
		{"default outcome", sim.Config{Tokens: []string{token}, DefaultOutcome: "maybe"}, "default outcome"},
		{"script number", sim.Config{Tokens: []string{token}, Scripts: map[string]sim.Outcome{"12345": sim.OutcomeBusy}}, `script number "12345"`},
		{"script outcome", sim.Config{Tokens: []string{token}, Scripts: map[string]sim.Outcome{dn: "Busy"}}, "script outcome"},
		{"max calls", sim.Config{Tokens: []string{token}, MaxCalls: -1}, "max calls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := sim.New(tc.cfg); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), strings.ToUpper(token)) {
				t.Error("error message contains the token")
			}
			if _, err := sim.New(tc.cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestParseOutcome(t *testing.T) {
	t.Parallel()
	for _, o := range sim.Outcomes() {
		got, err := sim.ParseOutcome(strings.ToUpper(string(o)))
		if err != nil || got != o {
			t.Errorf("ParseOutcome(%q) = %q, %v", o, got, err)
		}
	}
	if got, err := sim.ParseOutcome("no-answer"); err != nil || got != sim.OutcomeNoAnswer {
		t.Errorf("no-answer: %q %v", got, err)
	}
	for _, bad := range []string{"", "unauthorized", "ok"} {
		if _, err := sim.ParseOutcome(bad); !errors.Is(err, sim.ErrUnknownOutcome) {
			t.Errorf("ParseOutcome(%q) err = %v", bad, err)
		}
	}
	causes := map[sim.Outcome]string{
		sim.OutcomeAnswered: "NORMAL_CLEARING", sim.OutcomeBusy: "USER_BUSY", sim.OutcomeNoAnswer: "NO_ANSWER",
		sim.OutcomeUnreachable: "SUBSCRIBER_ABSENT", sim.OutcomeRejected: "CALL_REJECTED", sim.OutcomeSlow: "NO_ANSWER",
		sim.OutcomeResultSuccess: "success", sim.OutcomeLowBalance: "",
		sim.OutcomeDestinationNotAllowed: "", sim.OutcomeServerError: "", sim.OutcomeHTMLError: "",
	}
	for o, want := range causes {
		if got := o.Cause(); got != want || o.Places() != (want != "") {
			t.Errorf("%s: cause %q places %v", o, got, o.Places())
		}
	}
	if len(causes) != len(sim.Outcomes()) {
		t.Errorf("outcomes %d, table %d", len(sim.Outcomes()), len(causes))
	}
}
