package callpass

import (
	"context"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// startWithCallID starts a call against a provider answering with callid
// (plain text, placed in a JSON string as it is) and returns the call id
// StartCall hands back.
func startWithCallID(t *testing.T, callid string) string {
	t.Helper()
	p := newProvider(t, jsonAnswer(`{"data":{"callid":"`+callid+`","phone":"2214610","result":"null"},"status":"success"}`))
	c := newTestClient(t, p.srv.URL, 3, nil)
	call, err := c.StartCall(context.Background(), mustPhone(t))
	if err != nil {
		t.Fatal(err)
	}
	return call.ID
}

// TestMaskedCallIDExactForms pins the shown part of references: every
// character of the destination (with its country code 7 or trunk prefix 8,
// in any digit script) and of a token piece is masked, up to the last one;
// a token piece ending the id is found; other digits stay readable; and an
// id outside the plain shape ('+') is a reference, not shown as it came.
func TestMaskedCallIDExactForms(t *testing.T) {
	tests := []struct{ name, callid, shown string }{
		{"number with country code", "call-79001234567", "call-###########"},
		{"number with trunk prefix", "call-89001234567", "call-###########"},
		{"fullwidth number", "call-７９００１２３４５６７", "call-###########"},
		{"token piece ending the id", "x-a1b2c3d4-e5f6a7b8", "x-########-########"},
		{"longer token piece", "x-a1b2c3d4-e5f6a7b8-c9d0", "x-########-########-####"},
		{"other digits shown", "call 20240521-000123", "call 20240521-000123"},
		{"plus sign", "call+42", "call+42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := startWithCallID(t, tt.callid)
			if !isCallRef(id) {
				t.Fatalf("call id %q returned as it is, want a reference", id)
			}
			if got := shownPart(id); got != tt.shown {
				t.Errorf("reference shows %q, want %q", got, tt.shown)
			}
		})
	}
}

// TestStatusTenDigitGroupMasked: a caller of CallStatus that does not pass
// the destination still gets a status text echoing a national number
// joined by punctuation that is no number separator (':') masked, by the
// loose 10-digit group rule.
func TestStatusTenDigitGroupMasked(t *testing.T) {
	_, c, _ := startAndStatus(t,
		`{"data":{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","phone":"2214610","result":"null"},"status":"success"}`,
		`{"data":{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","result":"busy 900:123:45:67"},"status":"success"}`)
	st, err := c.CallStatus(context.Background(), "58597b21-2a59-480a-a3f0-96a1eec77ae9", phone.Number{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Raw != "busy ###:###:##:##" {
		t.Errorf("Status.Raw = %q, want %q", st.Raw, "busy ###:###:##:##")
	}
}

// TestCallStatusLogsMaskCallerID: an id a caller passes to CallStatus that
// is no reference and carries a piece of the token is sent exactly but
// logged masked.
func TestCallStatusLogsMaskCallerID(t *testing.T) {
	const id = "x-a1b2c3d4-e5f6a7b8-c9d0"
	p, c, buf := startAndStatus(t, `{}`,
		`{"data":{"callid":"`+id+`","result":"NORMAL_CLEARING"},"status":"success"}`)
	if _, err := c.CallStatus(context.Background(), id, mustPhone(t)); err != nil {
		t.Fatal(err)
	}
	reqs := p.requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].body, id) {
		t.Fatalf("status requests %+v, want one carrying the exact id", reqs)
	}
	if !strings.Contains(buf.String(), "x-########-########-####") {
		t.Errorf("log does not show the masked id:\n%s", buf)
	}
	if l := leaks(buf.String()); l != "" {
		t.Errorf("log carries %s:\n%s", l, buf)
	}
}

// TestSanitizeMinusSignJoinsNumber: U+2212 (the minus sign some editors put
// for a hyphen) joins the digits of one number.
func TestSanitizeMinusSignJoinsNumber(t *testing.T) {
	in, want := "номер +7\u2212900\u2212123\u221245\u221267", "номер +#\u2212###\u2212###\u2212##\u2212##"
	if got := sanitize(in, 120); got != want {
		t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
	}
}
