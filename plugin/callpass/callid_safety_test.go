package callpass

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// escapeAll writes every character of an ASCII string as a JSON \u escape:
// a provider or a proxy may send the token that way, and redactToken, which
// reads the raw bytes, cannot see it.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\u%04x`, s[i])
	}
	return b.String()
}

// leaks reports what of a secret s carries: the destination's 10 digits in
// any spelling (any script or digit form), the test token, or any 8
// characters of it in any case.
func leaks(s string) string {
	if strings.Contains(anyDigits(s), "9001234567") {
		return "the number"
	}
	low := strings.ToLower(s)
	for i := 0; i+8 <= len(testToken); i++ {
		if strings.Contains(low, testToken[i:i+8]) {
			return "a piece of the token"
		}
	}
	return ""
}

// TestProviderCallIDAndStatusKeepSecrets: the call id and the call status
// text come from the provider, and the challenge service logs and stores
// them as StartCall and CallStatus return them. When they carry the token
// (JSON-escaped, so the raw-bytes redaction misses it) or a full phone
// number, what is returned and logged must not; yet the call is not lost
// (StartCall succeeds), its status request sends the provider's exact id,
// and the status is classified as before.
func TestProviderCallIDAndStatusKeepSecrets(t *testing.T) {
	const uuid = `"58597b21-2a59-480a-a3f0-96a1eec77ae9"`
	escTok := `\u0061` + testToken[1:] // testToken starts with 'a'
	tests := []struct {
		name           string
		callid, result string // JSON literals
	}{
		{"escaped token in callid", `"id-` + escTok + `"`, `"null"`},
		{"fully escaped token in callid", `"` + escapeAll(testToken) + `"`, `"null"`},
		{"escaped upper-case token in callid", `"` + escapeAll(strings.ToUpper(testToken)) + `"`, `"null"`},
		{"escaped token fragment in callid", `"x-` + escapeAll(testToken[4:24]) + `"`, `"null"`},
		{"number in callid", `"call-79001234567"`, `"null"`},
		{"callid is a JSON number", `79001234567`, `"null"`},
		{"formatted number in callid", `"7-900-123-45-67"`, `"null"`},
		{"colon-separated number in callid", `"id:7:900:123:45:67"`, `"null"`},
		{"number across dashes, not a UUID", `"79001234-5671-4c6f"`, `"null"`},
		{"trunk-prefixed number in callid", `"8-900-123-45-67"`, `"null"`},
		{"national number in callid", `"ref.9001234567"`, `"null"`},
		{"number split by letters in callid", `"a7b900c123d45e67"`, `"null"`},
		{"number in a long callid", `"` + strings.Repeat("x", 90) + `-79001234567"`, `"null"`},
		{"token as a UUID", `"` + testToken[:8] + "-" + testToken[8:12] + "-" + testToken[12:16] + "-" + testToken[16:20] + "-" + testToken[20:] + `"`, `"null"`},
		{"escaped token in result", uuid, `"REJECTED by ` + escTok + `"`},
		{"fully escaped token as result", uuid, `"` + escapeAll(testToken) + `"`},
		{"number in result", uuid, `"NO ANSWER FROM +79001234567"`},
		{"formatted number in result", uuid, `"busy 7/900/123/45/67"`},
		{"colon-separated number in result", uuid, `"busy 7:900:123:45:67"`},
		{"both", `"` + escapeAll("79001234567") + `"`, `"` + escapeAll("+7 900 123 45 67") + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var exactID, rawResult string
			if err := json.Unmarshal([]byte(tt.callid), &exactID); err != nil {
				exactID = tt.callid // a JSON number: kept as its literal text
			}
			if err := json.Unmarshal([]byte(tt.result), &rawResult); err != nil {
				t.Fatal(err)
			}
			statusResult := tt.result
			if rawResult == "null" {
				statusResult = `"SOMETHING_NEW 79001234567"`
			}
			var statusRaw string
			_ = json.Unmarshal([]byte(statusResult), &statusRaw)

			p, c, buf := startAndStatus(t, `{"data":{"callid":`+tt.callid+`,"phone":"2214610","result":`+tt.result+`},"status":"success"}`,
				`{"data":{"callid":`+tt.callid+`,"result":`+statusResult+`},"status":"success"}`)

			call, err := c.StartCall(context.Background(), mustPhone(t))
			if err != nil {
				t.Fatalf("StartCall refused a placed call: %v", err)
			}
			if call.Code != "4610" {
				t.Fatalf("code %q", call.Code)
			}
			if call.ID == "" {
				t.Fatal("empty call id")
			}
			if l := leaks(call.ID); l != "" {
				t.Errorf("Call.ID %q carries %s", call.ID, l)
			}
			if l := leaks(call.Status.Raw); l != "" {
				t.Errorf("Call.Status.Raw %q carries %s", call.Status.Raw, l)
			}
			if want := flashcall.ClassifyAsyncStart(rawResult).Class; call.Status.Class != want {
				t.Errorf("start status class %v, want %v", call.Status.Class, want)
			}

			st, err := c.CallStatus(context.Background(), call.ID, mustPhone(t))
			if err != nil {
				t.Fatalf("CallStatus(%q): %v", call.ID, err)
			}
			reqs := p.requests()
			if got := reqs[len(reqs)-1].form.Get("callid"); got != exactID {
				t.Errorf("status request sent callid %q, want the provider's exact %q", got, exactID)
			}
			if l := leaks(st.Raw); l != "" {
				t.Errorf("Status.Raw %q carries %s", st.Raw, l)
			}
			if want := flashcall.Classify(statusRaw).Class; st.Class != want {
				t.Errorf("status class %v, want %v", st.Class, want)
			}
			if !strings.Contains(buf.String(), "callpass call started") || !strings.Contains(buf.String(), "callpass call status") {
				t.Fatalf("the test misses the log lines:\n%s", buf.String())
			}
			for _, line := range strings.Split(buf.String(), "\n") {
				if l := leaks(line); l != "" {
					t.Errorf("log line carries %s: %s", l, line)
				}
			}
		})
	}
}

// TestDocumentedCallIDsAndStatusesVerbatim: what the document shows (UUIDs,
// documented and other known statuses) and any plain identifier a
// clean-room server may mint is returned, logged and sent exactly as
// received.
func TestDocumentedCallIDsAndStatusesVerbatim(t *testing.T) {
	ids := []string{
		"527f2b9b-1124-4c6f-a5fb-b9b239d923e4", "58597b21-2a59-480a-a3f0-96a1eec77ae9",
		"4F2EA8A1-75E8-4FDD-8E6B-B92E804B1A1D", "a", "call_42.x:7", "3f2504e04f8911d39a0c0305e82c3301",
		"12345", "ABCdef-123456789",
		// Digits across a UUID's dashes: its dashes are structure, not a
		// number's separators (ids the clean-room server minted).
		"f4044907-054a-4a79-9d02-4c1cb6d9e4b6", "32012157-85e3-48ec-8ba4-159c970703db",
		"26eefad4-4853-4926-9d4e-be70d9a9427c",
		// A UUID is shown whole even with 10+ digits in a group (about 2 in
		// 100 random ones): it is the id CallPass support asks for.
		"527f2b9b-1124-4c6f-a5fb-079001234567", "527F2B9B-1124-4C6F-A5FB-079001234567",
	}
	results := []string{"null", "NO_ANSWER", "NORMAL_CLEARING", " user_busy ", "success", "SUBSCRIBER_ABSENT"}
	for _, id := range ids {
		for _, res := range results {
			p := newProvider(t, jsonAnswer(`{"data":{"callid":"`+id+`","pin":"0446","result":"`+res+`"},"status":"success"}`))
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := newTestClient(t, p.srv.URL, 2, func(cfg *Config) { cfg.Logger = logger })
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if err != nil {
				t.Fatalf("%s/%s: %v", id, res, err)
			}
			if call.ID != id || call.Status.Raw != res {
				t.Errorf("StartCall = %q/%q, want %q/%q", call.ID, call.Status.Raw, id, res)
			}
			st, err := c.CallStatus(context.Background(), call.ID, mustPhone(t))
			if err != nil {
				t.Fatalf("%s/%s: %v", id, res, err)
			}
			if st.Raw != res {
				t.Errorf("CallStatus Raw = %q, want %q", st.Raw, res)
			}
			if got := p.requests()[1].form.Get("callid"); got != id {
				t.Errorf("status request sent %q, want %q", got, id)
			}
			if !strings.Contains(buf.String(), `"call_id":"`+id+`"`) {
				t.Errorf("log does not show the id %q verbatim:\n%s", id, buf.String())
			}
		}
	}
}

// TestUnknownCallReference: a masked reference this client no longer
// knows (expired, or handed out by another process) is refused locally as
// an unknown call, not sent to the provider.
func TestUnknownCallReference(t *testing.T) {
	p := newProvider(t, jsonAnswer(`{"data":{"callid":"call-79001234567","phone":"2214610","result":"null"},"status":"success"}`))
	c := newTestClient(t, p.srv.URL, 3, nil)
	call, err := c.StartCall(context.Background(), mustPhone(t))
	if err != nil {
		t.Fatal(err)
	}
	other := newTestClient(t, p.srv.URL, 3, nil)
	_, err = other.CallStatus(context.Background(), call.ID, mustPhone(t))
	e := assertKind(t, err, flashcall.ErrCallNotFound, OpStatus)
	if e.Sent {
		t.Error("Sent = true")
	}
	if n := len(p.requests()); n != 1 {
		t.Fatalf("provider got %d requests, want 1 (the start)", n)
	}
}

// startAndStatus is a v3 client, logging at debug into the returned buffer,
// of a provider answering every start with start and every status request
// with status.
func startAndStatus(t *testing.T, start, status string) (*provider, *Client, *bytes.Buffer) {
	t.Helper()
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		body := start
		if strings.Contains(r.URL.Path, "status") {
			body = status
		}
		jsonAnswer(body)(w, r)
	})
	buf := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropClock}))
	return p, newTestClient(t, p.srv.URL, 3, func(cfg *Config) { cfg.Logger = logger }), buf
}
