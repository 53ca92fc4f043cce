package callpass

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// statusDestinationCases are status texts Classify does not know that
// echo the destination (+7 900 123-45-67, mustPhone). gapBefore marks
// those of which the digit-group masking alone shows digits of the
// destination: spelled with letters between its digits, only masking for
// the destination catches it. want, when set, pins the shown form.
var statusDestinationCases = []struct {
	name, text, want string
	gapBefore        bool
}{
	// Letters or punctuation between the digits: masked only for the
	// destination.
	{"letters between groups", "busy 7a900a123a45a67", "busy #a###a###a##a##", true},
	{"trunk prefix, letters and brackets", "NEW 8(900)x123x4567", "NEW #(###)x###x####", true},
	{"a letter between every digit", "n7a9b0c0d1e2f3g4h5i6j7x", "n#a#b#c#d#e#f#g#h#i#j#x", true},
	{"national number split by a letter", "to 900z1234567", "to ###z#######", true},
	{"cyrillic letters", "абонент 7ф900ы123ю45я67", "абонент #ф###ы###ю##я##", true},
	{"fullwidth digits and letters", "busy ７a９００b１２３c４５６７", "busy #a###b###c####", true},
	{"arabic-indic digits and letters", "busy ٧a٩٠٠b١٢٣c٤٥٦٧", "busy #a###b###c####", true},
	{"number then a token piece", "7a900a123a45a67 " + testToken[:20], "", true},
	// Masked before, by the digit groups, and still.
	{"plain national number", "ref#9001234567", "ref###########", false},
	{"separators around a word", "cb:+7(900)ext123-45-67", "cb:+#(###)ext###-##-##", false},
	{"number after a word", "n9001234567x", "n##########x", false},
	{"formatted number", "NO ANSWER FROM +7 (900) 123-45-67", "NO ANSWER FROM +# (###) ###-##-##", false},
	{"colon-separated number", "busy 7:900:123:45:67", "busy #:###:###:##:##", false},
	{"comma-separated number", "busy 7,900,123,45,67", "busy #,###,###,##,##", false},
	{"fullwidth number", "busy ７９００１２３４５６７", "busy ###########", false},
	// Digit forms Unicode files as numbers, not digits: masked since they
	// count as digits, by the digit groups and for the destination.
	{"superscript number", "busy +7⁹⁰⁰¹²³⁴⁵⁶⁷", "busy +###########", false},
	{"subscript number", "busy ₇₉₀₀₁₂₃₄₅₆₇", "busy ###########", false},
	{"circled number", "busy ⑦⑨⓪⓪①②③④⑤⑥⑦", "busy ###########", false},
	{"dingbat circled number", "busy ❼➈⓿🄋❶➋③❹➄⓺⑦", "busy ###########", false},
	{"parenthesized number, ASCII zeros", "busy ⑺⑼00⑿⑶⑷⑸⑹⑺", "busy ##########", false},
	{"full stop and comma digits", "busy ⒎⒐🄀🄁⒈⒉⒊⒋⒌⒍⒎", "busy ###########", false},
	{"superscript groups in brackets", "busy ⁺⁷ ⁽⁹⁰⁰⁾ ¹²³⁻⁴⁵⁻⁶⁷", "busy ⁺# ⁽###⁾ ###⁻##⁻##", false},
	{"digit forms and letters", "busy 7a⁹⁰⁰b①②③c⁴⁵a⑥⑦", "busy #a###b###c##a##", true},
	{"two digits in one rune", "busy 7a900a⑫3a㊺a67", "busy #a###a##a#a##", true},
}

// TestStatusAnswerMasksDestination: CallStatus, given the number StartCall
// called, masks a status text that spells it, however it is spelled, just
// as the start answer does; its log lines carry it in no form either. The
// same text without the destination shows what the digit-group masking
// alone lets through: it is what the cases marked gapBefore test.
func TestStatusAnswerMasksDestination(t *testing.T) {
	const id = "58597b21-2a59-480a-a3f0-96a1eec77ae9"
	for _, tt := range statusDestinationCases {
		t.Run(tt.name, func(t *testing.T) {
			q, err := json.Marshal(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			answer := `{"data":{"callid":"` + id + `","phone":"2214610","result":` + string(q) + `},"status":"success"}`
			_, c, buf := startAndStatus(t, answer, answer)
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if err != nil {
				t.Fatal(err)
			}
			if l := leaks(call.Status.Raw); l != "" {
				t.Fatalf("start answer %q carries %s: the case is no status the start masks", call.Status.Raw, l)
			}
			st, err := c.CallStatus(context.Background(), call.ID, mustPhone(t))
			if err != nil {
				t.Fatal(err)
			}
			if l := leaks(st.Raw); l != "" {
				t.Errorf("Status.Raw %q carries %s", st.Raw, l)
			}
			// The same masking as the start answer's, to the character.
			if st.Raw != call.Status.Raw {
				t.Errorf("Status.Raw %q, the start answer's %q", st.Raw, call.Status.Raw)
			}
			if tt.want != "" && st.Raw != tt.want {
				t.Errorf("Status.Raw %q, want %q", st.Raw, tt.want)
			}
			if !strings.Contains(buf.String(), "callpass call status") {
				t.Fatalf("no status log line:\n%s", buf)
			}
			for _, line := range strings.Split(buf.String(), "\n") {
				if l := leaks(line); l != "" {
					t.Errorf("log line carries %s: %s", l, line)
				}
			}

			// A caller that does not pass the destination gets the
			// digit-group masking only: it shows digits of the number
			// exactly in the cases marked gapBefore.
			blind, err := c.CallStatus(context.Background(), call.ID, phone.Number{})
			if err != nil {
				t.Fatal(err)
			}
			if shows := blind.Raw != st.Raw; shows != tt.gapBefore {
				t.Errorf("without the destination Status.Raw = %q (with it %q): digits shown %v, want %v", blind.Raw, st.Raw, shows, tt.gapBefore)
			}
		})
	}
}

// TestStatusOtherDigitsShown: knowing the destination masks its digits
// only; a status's other digits are shown as before (short groups), or
// masked as before (long groups).
func TestStatusOtherDigitsShown(t *testing.T) {
	const id = "58597b21-2a59-480a-a3f0-96a1eec77ae9"
	for _, tt := range []struct{ text, want string }{
		{"SOMETHING_NEW 42", "SOMETHING_NEW 42"},
		{"cause 21 at 12:30", "cause 21 at 12:30"},
		{"busy 7a800a555a44a33", "busy 7a800a555a44a33"},
		{"busy 7:800:555:44:33", "busy #:###:###:##:##"},
	} {
		_, c, _ := startAndStatus(t, `{}`, `{"data":{"callid":"`+id+`","result":"`+tt.text+`"},"status":"success"}`)
		st, err := c.CallStatus(context.Background(), id, mustPhone(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.Raw != tt.want {
			t.Errorf("%q: Status.Raw %q, want %q", tt.text, st.Raw, tt.want)
		}
	}
}

// TestCallerIDWithDestinationLoggedMasked: an id a caller passes to
// CallStatus (no reference) that spells the destination it names is sent
// exactly but logged masked, as StartCall would have shown it.
func TestCallerIDWithDestinationLoggedMasked(t *testing.T) {
	const id = "a7b900c123d45e67"
	p, c, buf := startAndStatus(t, `{}`, `{"data":{"callid":"`+id+`","result":"NO_ANSWER"},"status":"success"}`)
	if _, err := c.CallStatus(context.Background(), id, mustPhone(t)); err != nil {
		t.Fatal(err)
	}
	if reqs := p.requests(); len(reqs) != 1 || reqs[0].form.Get("callid") != id {
		t.Fatalf("status requests %+v, want one carrying the exact id", reqs)
	}
	if !strings.Contains(buf.String(), `"call_id":"a#b###c###d##e##"`) {
		t.Errorf("log does not show the masked id:\n%s", buf)
	}
	if l := leaks(buf.String()); l != "" {
		t.Errorf("log carries %s:\n%s", l, buf)
	}
}
