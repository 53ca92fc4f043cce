package callpass

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// shownPart is what a reference shows before its random suffix.
func shownPart(ref string) string {
	if i := strings.LastIndex(ref, callRefMark); i >= 0 {
		return ref[:i]
	}
	return ref
}

// TestPlacedCallWithUnusualIDNotLost: a start answer whose code is usable
// is a placed call, whatever its call id: refusing it would lose the call
// (no challenge recorded) and make the user's retry pay a second one. An
// unusual id (spaces, control or non-ASCII characters, over 128 bytes) is
// returned as a reference whose status request sends the exact id; a
// missing or empty id, or one over maxExactCallID bytes (which the
// reference table would keep whole), as a placeholder reference for which
// CallStatus asks nothing and answers ErrCallNotFound (which stops the
// challenge service's poller).
func TestPlacedCallWithUnusualIDNotLost(t *testing.T) {
	long := strings.Repeat("a", 129)
	longest := strings.Repeat("b", maxExactCallID)
	tests := []struct {
		name   string
		callid string // JSON literal; "" leaves the field out
		exact  string // what the status request must send; "" = no request
	}{
		{"no callid field", "", ""},
		{"empty callid", `""`, ""},
		{"null callid", `null`, ""},
		{"space", `"a b"`, "a b"},
		{"only a space", `" "`, " "},
		{"newline", `"abc\n"`, "abc\n"},
		{"NUL", `"abc\u0000"`, "abc\x00"},
		{"too long", `"` + long + `"`, long},
		{"longest kept", `"` + longest + `"`, longest},
		{"longer than kept", `"` + longest + `c"`, ""},
		{"60 KB", `"` + strings.Repeat("d", 60<<10) + `"`, ""},
		{"non-ASCII", `"идентификатор"`, "идентификатор"},
		{"space and the number", `"call 79001234567"`, "call 79001234567"},
		// JSON-escaped: the raw-bytes redaction would cut the plain token.
		{"space and the token", `"id ` + escapeAll(testToken) + `"`, "id " + testToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field := ""
			if tt.callid != "" {
				field = `"callid":` + tt.callid + `,`
			}
			p, c, buf := startAndStatus(t, `{"data":{`+field+`"phone":"2214610","result":"null"},"status":"success"}`,
				`{"data":{`+field+`"result":"NO_ANSWER"},"status":"success"}`)
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if err != nil {
				t.Fatalf("StartCall refused a placed call with a usable code: %v", err)
			}
			if call.Code != "4610" {
				t.Fatalf("code %q", call.Code)
			}
			if call.ID == "" || !isCallRef(call.ID) {
				t.Fatalf("Call.ID %q is not a reference", call.ID)
			}
			if shownPart(call.ID) == "" {
				t.Errorf("reference %q shows nothing before its suffix", call.ID)
			}
			for _, r := range call.ID {
				if r < ' ' || r == 0x7f {
					t.Fatalf("Call.ID %q holds a control character", call.ID)
				}
			}
			if l := leaks(call.ID); l != "" {
				t.Errorf("Call.ID %q carries %s", call.ID, l)
			}

			st, err := c.CallStatus(context.Background(), call.ID, mustPhone(t))
			reqs := p.requests()
			if tt.exact == "" {
				e := assertKind(t, err, flashcall.ErrCallNotFound, OpStatus)
				if e.Sent {
					t.Error("Sent = true")
				}
				if len(reqs) != 1 {
					t.Fatalf("provider got %d requests, want 1 (the start): no status request for a call without an id", len(reqs))
				}
			} else {
				if err != nil {
					t.Fatalf("CallStatus(%q): %v", call.ID, err)
				}
				if st.Raw != "NO_ANSWER" || st.Class != flashcall.Classify("NO_ANSWER").Class {
					t.Errorf("status %+v", st)
				}
				if got := reqs[len(reqs)-1].form.Get("callid"); got != tt.exact {
					t.Errorf("status request sent callid %q, want the provider's exact %q", got, tt.exact)
				}
			}
			for _, line := range strings.Split(buf.String(), "\n") {
				if l := leaks(line); l != "" {
					t.Errorf("log line carries %s: %s", l, line)
				}
			}
		})
	}
}

// TestPlainIDsWithDigitsShownVerbatim: a plain id is masked only when it
// carries a piece of the token or the destination's number. Long digit
// groups alone (snowflake ids, dated ids) are shown, logged and sent as
// received, so an operator can quote them to the provider.
func TestPlainIDsWithDigitsShownVerbatim(t *testing.T) {
	for _, id := range []string{
		"1790123456789012345", // a 19-digit snowflake id
		"call-20240521-000123",
		"id:12345678901",
		"order.2024.0521.000123",
		"7-800-555-35-35", // some number, not the destination's
		"79001234560",     // the destination's digits but one
		"9001234-call-56", // part of them
	} {
		t.Run(id, func(t *testing.T) {
			p := newProvider(t, jsonAnswer(`{"data":{"callid":"`+id+`","phone":"2214610","result":"null"},"status":"success"}`))
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := newTestClient(t, p.srv.URL, 3, func(cfg *Config) { cfg.Logger = logger })
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if err != nil {
				t.Fatal(err)
			}
			if call.ID != id {
				t.Errorf("Call.ID = %q, want %q verbatim", call.ID, id)
			}
			if _, err := c.CallStatus(context.Background(), call.ID, mustPhone(t)); err != nil {
				t.Fatal(err)
			}
			if got := p.requests()[1].form.Get("callid"); got != id {
				t.Errorf("status request sent %q, want %q", got, id)
			}
			if !strings.Contains(buf.String(), `"call_id":"`+id+`"`) {
				t.Errorf("log does not show the id %q verbatim:\n%s", id, buf.String())
			}
		})
	}
}

// TestMaskedBeforeTruncated: a number crossing the cut of a shown id (96
// bytes) or of a shown status text (64) is masked whole: none of its
// digits is shown.
func TestMaskedBeforeTruncated(t *testing.T) {
	for _, sep := range []string{"", "-", ":", " "} {
		number := strings.Join([]string{"7", "900", "123", "45", "67"}, sep)
		// The id is cut at 96: the number starts just before the cut.
		id := strings.Repeat("x", 90) + "-" + number
		// The status text is cut at 64.
		status := "SOMETHING_NEW " + strings.Repeat("x", 45) + " " + number
		p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
			res := "null"
			if strings.Contains(r.URL.Path, "status") {
				res = status
			}
			body, _ := json.Marshal(map[string]any{"status": "success",
				"data": map[string]string{"callid": id, "phone": "2214610", "result": res}})
			jsonAnswer(string(body))(w, r)
		})
		c := newTestClient(t, p.srv.URL, 3, nil)
		call, err := c.StartCall(context.Background(), mustPhone(t))
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if s := shownPart(call.ID); strings.ContainsAny(s, "0123456789") {
			t.Errorf("Call.ID %q shows digits of the number crossing the cut", call.ID)
		}
		st, err := c.CallStatus(context.Background(), call.ID, mustPhone(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.requests()[1].form.Get("callid"); got != id {
			t.Errorf("status request sent %q, want %q", got, id)
		}
		if strings.ContainsAny(st.Raw, "0123456789") {
			t.Errorf("Status.Raw %q shows digits of the number crossing the cut", st.Raw)
		}
		if !strings.HasPrefix(st.Raw, "SOMETHING_NEW") || len(st.Raw) > maxStatusText {
			t.Errorf("Status.Raw %q", st.Raw)
		}
	}
}

// TestUUIDCarryingTokenMasked: a UUID is shown as it is unless it carries
// the token (or 16 hex digits of it) once its dashes are ignored: the
// 32-hex token re-formatted 8-4-4-4-12 is no call id to show.
func TestUUIDCarryingTokenMasked(t *testing.T) {
	uuidOf := func(h string) string { return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32] }
	for _, id := range []string{
		uuidOf(testToken),
		strings.ToUpper(uuidOf(testToken)),
		uuidOf(testToken[:16] + "0123456789abcdef"), // half of it
		uuidOf("0123456789ab" + testToken[8:28]),    // a piece across the dashes
	} {
		t.Run(id, func(t *testing.T) {
			p := newProvider(t, jsonAnswer(`{"data":{"callid":"`+id+`","phone":"2214610","result":"null"},"status":"success"}`))
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropClock}))
			c := newTestClient(t, p.srv.URL, 3, func(cfg *Config) { cfg.Logger = logger })
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if err != nil {
				t.Fatal(err)
			}
			if call.ID == id || !isCallRef(call.ID) {
				t.Fatalf("Call.ID %q: a UUID carrying the token is shown as it is", call.ID)
			}
			if l := leaks(call.ID); l != "" {
				t.Errorf("Call.ID %q carries %s", call.ID, l)
			}
			if _, err := c.CallStatus(context.Background(), call.ID, mustPhone(t)); err != nil {
				t.Fatal(err)
			}
			if got := p.requests()[1].form.Get("callid"); got != id {
				t.Errorf("status request sent %q, want %q", got, id)
			}
			for _, line := range strings.Split(buf.String(), "\n") {
				if l := leaks(line); l != "" {
					t.Errorf("log line carries %s: %s", l, line)
				}
			}
		})
	}
}

// TestStartStatusMasksDestination: the start answer's status text, like
// its call id, has the destination's digits masked however they are
// spelled, letters between them included; other digit groups of a status
// are masked as before. CallStatus, given the destination, masks a status
// text the same way (TestStatusAnswerMasksDestination).
func TestStartStatusMasksDestination(t *testing.T) {
	for _, res := range []string{"busy 7a900a123a45a67", "NEW 8(900)x123x4567", "ref#9001234567"} {
		p := newProvider(t, jsonAnswer(`{"data":{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","phone":"2214610","result":"`+res+`"},"status":"success"}`))
		c := newTestClient(t, p.srv.URL, 3, nil)
		call, err := c.StartCall(context.Background(), mustPhone(t))
		if err != nil {
			t.Fatal(err)
		}
		if l := leaks(call.Status.Raw); l != "" {
			t.Errorf("Status.Raw %q carries %s", call.Status.Raw, l)
		}
		if call.Status.Class != flashcall.ClassifyAsyncStart(res).Class {
			t.Errorf("class %v", call.Status.Class)
		}
	}
}
