package callpass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// TestDestinationSpellingsShared: the challenge service's tests drive
// testenv.DestinationSpellings; they must be this package's table.
func TestDestinationSpellingsShared(t *testing.T) {
	var texts []string
	for _, tt := range statusDestinationCases {
		texts = append(texts, tt.text)
	}
	if !slices.Equal(texts, testenv.DestinationSpellings) {
		t.Errorf("testenv.DestinationSpellings\n%q\nis not statusDestinationCases' texts\n%q", testenv.DestinationSpellings, texts)
	}
	if testenv.SpellingsToken != testToken || testenv.DestinationNational != nationalDigits(mustPhone(t).Digits()) {
		t.Error("testenv's token or number is not this package's")
	}
}

// anyDigits keeps the digits of s in any script and digit form, as ASCII,
// read from Unicode's names rather than the code's tables: "７a９" is 79,
// "⁷⑩" 710.
func anyDigits(s string) string { return testenv.ReadDigits(s) }

// carriesDestination reports the national number's digits in order in s,
// in any script, whatever stands between them.
func carriesDestination(s string) bool { return strings.Contains(anyDigits(s), "9001234567") }

// errorForm is one way a CallPass error answer quotes provider text.
type errorForm struct {
	name   string
	status int
	ctype  string
	body   func(text string) string
}

// quoted is text as a JSON string literal.
func quoted(text string) string {
	q, _ := json.Marshal(text)
	return string(q)
}

// asciiQuoted is quoted with every other rune escaped (\uXXXX, UTF-16),
// as PHP's json_encode writes by default.
func asciiQuoted(text string) string {
	var b strings.Builder
	for _, r := range quoted(text) {
		if r < 0x80 {
			b.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	return b.String()
}

// errorForms are the answers whose text an error carries: the level-1
// message (with status "error", or "success" without data), the level-2
// message, a status other than success (cut to 40 bytes), an HTML page and
// a JSON body quoted as an excerpt (120 bytes), also with its text escaped
// as PHP escapes it (the excerpt quotes the raw body), a message long enough that
// the number crosses the 200-byte cut, and the Content-Type header. Each
// quotes "gone" too, so a test can tell the text was quoted. No template
// has a digit of its own.
var errorForms = []errorForm{
	{"level-1 message", 200, "application/json", func(s string) string { return `{"status":"error","message":` + quoted("gone: "+s) + `}` }},
	{"level-1 message without data", 200, "application/json", func(s string) string { return `{"status":"success","message":` + quoted("gone: "+s) + `}` }},
	{"level-2 message", 200, "application/json", func(s string) string {
		return `{"status":"success","data":{"result":"error","message":` + quoted("gone: "+s) + `}}`
	}},
	{"status", 200, "application/json", func(s string) string { return `{"status":` + quoted("gone "+s) + `}` }},
	{"html page", 502, "text/html", func(s string) string { return "<html><body><p>gone: " + s + "</p></body></html>" }},
	{"json excerpt", 500, "application/json", func(s string) string {
		return `{"status":"success","data":{"callid":"a","result":"null","note":` + quoted("gone: "+s) + `}}`
	}},
	{"escaped json excerpt", 500, "application/json", func(s string) string {
		return `{"status":"success","data":{"callid":"a","result":"null","note":` + asciiQuoted("gone: "+s) + `}}`
	}},
	{"escaped broken json", 200, "application/json", func(s string) string { return `{"status":"error","message":` + asciiQuoted("gone: "+s) + `,}` }},
	{"message crossing the cut", 200, "application/json", func(s string) string {
		return `{"status":"error","message":` + quoted("gone: "+strings.Repeat("x", maxMessage-12)+" "+s) + `}`
	}},
	{"excerpt crossing the cut", 503, "text/plain", func(s string) string { return "gone: " + strings.Repeat("y", maxExcerpt-10) + " " + s }},
}

// TestErrorTextMasksDestination: the provider text a StartCall or
// CallStatus error carries is masked for the destination (and the token)
// before any cut, in every spelling of statusDestinationCases and every
// form of errorForms: neither the error's fields nor its text nor the
// client's log lines carry the number's digits in order, and the fields
// quoting provider text keep no digit at all (the templates have none, so
// any left would be part of the number). The same answer to a status poll
// whose caller passes no destination shows digits of the number in the
// cases marked gapBefore: the digit-group masking alone misses them.
func TestErrorTextMasksDestination(t *testing.T) {
	for _, tt := range statusDestinationCases {
		for _, f := range errorForms {
			t.Run(tt.name+"/"+f.name, func(t *testing.T) {
				body := f.body(tt.text)
				for _, op := range []string{OpStart, OpStatus} {
					err, logs := failedCall(t, op, f.status, f.ctype, body, mustPhone(t))
					checkMaskedError(t, op, err, logs)
				}
				if f.name != "level-1 message" {
					return
				}
				err, _ := failedCall(t, OpStatus, f.status, f.ctype, body, phone.Number{})
				if e, _ := errors.AsType[*Error](err); tt.gapBefore && anyDigits(e.Message) == "" {
					t.Errorf("without the destination the error is %q: no digit of the number shown, the case tests nothing", err)
				}
			})
		}
	}
}

// TestContentTypeMasksDestination: a Content-Type header quoting the
// destination, with letters between its digits, is masked in the error.
func TestContentTypeMasksDestination(t *testing.T) {
	for _, text := range []string{"7a900a123a45a67", "8(900)x123x4567", "n7a9b0c0d1e2f3g4h5i6j7x"} {
		for _, op := range []string{OpStart, OpStatus} {
			err, logs := failedCall(t, op, 502, "text/html; gone="+text, "bad gateway", mustPhone(t))
			checkMaskedError(t, op, err, logs)
		}
	}
}

// failedCall answers op's request with the given answer and returns the
// error of StartCall (to mustPhone's number) or CallStatus (of a UUID,
// with to) and the client's log.
func failedCall(t *testing.T, op string, status int, ctype, body string, to phone.Number) (error, string) {
	t.Helper()
	var buf strings.Builder
	p := newProvider(t, answer(status, ctype, body))
	c := newTestClient(t, p.srv.URL, 3, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropClock}))
	})
	var err error
	if op == OpStart {
		_, err = c.StartCall(context.Background(), mustPhone(t))
	} else {
		_, err = c.CallStatus(context.Background(), "58597b21-2a59-480a-a3f0-96a1eec77ae9", to)
	}
	if err == nil {
		t.Fatalf("%s succeeded on %d %q", op, status, body)
	}
	if !strings.Contains(buf.String(), "callpass "+op+" failed") {
		t.Fatalf("no %q log line:\n%s", "callpass "+op+" failed", buf.String())
	}
	return err, buf.String()
}

// checkMaskedError is TestErrorTextMasksDestination's check of one error.
func checkMaskedError(t *testing.T, op string, err error, logs string) {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("%s: %T is not *Error", op, err)
	}
	if !strings.Contains(err.Error(), "gone") {
		t.Fatalf("%s: the provider text is not quoted, the test misses its path: %v", op, err)
	}
	for _, s := range []string{e.Message, e.Excerpt, e.ContentType} {
		if d := anyDigits(s); d != "" {
			t.Errorf("%s: error field %q keeps digits %s", op, s, d)
		}
	}
	if carriesDestination(err.Error()) || leaks(err.Error()) != "" {
		t.Errorf("%s: error carries a secret: %v", op, err)
	}
	for _, line := range strings.Split(logs, "\n") {
		if carriesDestination(line) || leaks(line) != "" {
			t.Errorf("%s: log line carries a secret: %s", op, line)
		}
	}
}

// TestErrorTextShowsOtherDigits: knowing the destination masks its digits
// only. Another number spelled as the cases spell the destination with
// letters between its digits, short digit groups (in digit forms too) and
// times are shown in the error as before; long groups are masked, in digit
// forms and joined by ':' or ',' too.
func TestErrorTextShowsOtherDigits(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"no call to 7a800a555a44a33", "no call to 7a800a555a44a33"},
		{"no call to 8a901x123x45b67", "no call to 8a901x123x45b67"},
		{"no call to 8(901)x123x4567", "no call to #(###)x123x####"},
		{"абонент 7ф800ы555ю44я33", "абонент 7ф800ы555ю44я33"},
		{"error 42", "error 42"},
		{"HTTP 502, 503", "HTTP 502, 503"},
		{"retry at 12:30", "retry at 12:30"},
		{"retry at 12:30, 14:45", "retry at 12:30, 14:45"},
		{"error ⁴²", "error ⁴²"},
		{"error ⑩, ⑪", "error ⑩, ⑪"},
		// Another number joined by ':' or ',' is masked, as in a status
		// text: 10 digits or more, joined by anything but letters.
		{"busy 7:800:555:44:33", "busy #:###:###:##:##"},
		{"busy 7,800,555,44,33", "busy #,###,###,##,##"},
		{"busy 7, 800, 555, 44, 33", "busy #, ###, ###, ##, ##"},
		{"no call to +7 (800) 555-44-33", "no call to +# (###) ###-##-##"},
		// Another number in digit forms is masked by the digit groups.
		{"no call to +7⁸⁰⁰⁵⁵⁵⁴⁴³³", "no call to +###########"},
		{"no call to ⑦⑧⓪⓪⑤⑤⑤④④③③", "no call to ###########"},
		{"no call to ⁺⁷ ⁽⁸⁰⁰⁾ ⁵⁵⁵⁻⁴⁴⁻³³", "no call to ⁺# ⁽###⁾ ###⁻##⁻##"},
		{"no call to 7a900a123a45a67, try 7a800a555a44a33", "no call to #a###a###a##a##, try 7a800a555a44a33"},
	} {
		for _, op := range []string{OpStart, OpStatus} {
			err, _ := failedCall(t, op, 200, "application/json", `{"status":"error","message":`+quoted(tt.text)+`}`, mustPhone(t))
			e, _ := errors.AsType[*Error](err)
			if e == nil || e.Message != tt.want {
				t.Errorf("%s %q: error %v, want the message %q", op, tt.text, err, tt.want)
			}
		}
	}
}

// TestErrorKindIgnoresMasking: masking changes what an error shows, not
// its kind: a message the destination masking changes is classified as the
// same message with the number left out.
func TestErrorKindIgnoresMasking(t *testing.T) {
	for _, tt := range []struct{ body, without string }{
		{`{"status":"error","message":"insufficient funds for 7a900a123a45a67"}`, `{"status":"error","message":"insufficient funds"}`},
		{`{"status":"error","message":"destination 7a900a123a45a67 not allowed"}`, `{"status":"error","message":"destination not allowed"}`},
		{`{"status":"success","data":{"result":"error","message":"can't find callid for 7a900a123a45a67"}}`, `{"status":"success","data":{"result":"error","message":"can't find callid"}}`},
	} {
		_, err := decodeAnswer(200, "application/json", []byte(tt.body), clientSecrets)
		_, want := DecodeResponse(200, "application/json", []byte(tt.without))
		e, _ := errors.AsType[*Error](err)
		w, _ := errors.AsType[*Error](want)
		if e == nil || w == nil || e.Kind != w.Kind || e.level != w.level {
			t.Errorf("%s: %v, want the kind of %v", tt.body, err, want)
		}
		if carriesDestination(fmt.Sprint(err)) {
			t.Errorf("%s: %v carries the number", tt.body, err)
		}
	}
}

// TestMaskingLeavesNoJoinedNumber: the digits around a masked number may
// spell it again once it is gone ("900a123" + number + "4567"); they are
// masked too, in an error and in a status alike.
func TestMaskingLeavesNoJoinedNumber(t *testing.T) {
	for _, text := range []string{"gone: 900a123a79001234567b4567", "gone 9001a2345a9001234567b67", "gone 9a0a0a1a2a3a4a5a6a7a9001234567"} {
		for _, op := range []string{OpStart, OpStatus} {
			err, logs := failedCall(t, op, 200, "application/json", `{"status":"error","message":`+quoted(text)+`}`, mustPhone(t))
			checkMaskedError(t, op, err, logs)
		}
		if got := maskSecrets(text, testToken, "9001234567"); carriesDestination(got) {
			t.Errorf("maskSecrets(%q) = %q", text, got)
		}
	}
}
