package callpass

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestSanitizeFormattedNumbers: a phone number written with separators
// ("+7 (900) 123-45-67") has no unbroken run of 4 digits, yet it is as
// much a number as "79001234567". Digits joined only by phone-number
// separators count as one group, and a group of 4 digits or more is masked
// like an unbroken run: every digit becomes '#', everything else stays.
func TestSanitizeFormattedNumbers(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Formatted numbers, Russian and Latin text around them.
		{"ru brackets and dashes", "номер +7 (900) 123-45-67 недоступен", "номер +# (###) ###-##-## недоступен"},
		{"latin spaces", "number 8 900 123 45 67 is not reachable", "number # ### ### ## ## is not reachable"},
		{"dashes only", "+7-900-123-45-67", "+#-###-###-##-##"},
		{"dots", "7.900.123.45.67", "#.###.###.##.##"},
		{"ru dots", "абонент 7.900.123.45.67 недоступен", "абонент #.###.###.##.## недоступен"},
		{"no-break spaces", "номер\u00a0+7\u00a0900\u00a0123\u00a045\u00a067", "номер +# ### ### ## ##"},
		{"narrow no-break spaces", "number 8\u202f900\u202f123\u202f45\u202f67.", "number # ### ### ## ##."},
		{"en dashes", "call 8 (900) 123–45–67 failed", "call # (###) ###–##–## failed"},
		{"fullwidth brackets", "номер ＋7（900）123－45－67", "номер ＋#（###）###－##－##"},
		{"fullwidth digits", "номер ９００ １２３ ４５ ６７", "номер ### ### ## ##"},
		{"zero-width joins", "900\u200b123\u200b45\u200b67", "##########"},
		{"brackets without spaces", "(900)1234567", "(###)#######"},
		{"slashes", "+7/900/123/45/67", "+#/###/###/##/##"},
		{"underscores", "+7_900_123_45_67", "+#_###_###_##_##"},
		{"middle dots", "номер 7·900·123·45·67 недоступен", "номер #·###·###·##·## недоступен"},
		{"mixed new separators", "tel:7/900_123·45-67", "tel:#/###_###·##-##"},
		{"json field", `{"phone":"+7 900 123-45-67"}`, `{"phone":"+# ### ###-##-##"}`},
		{"code split in two", "code 04 46", "code ## ##"},
		{"code spaced out", "pin 0 4 4 6", "pin # # # #"},
		{"three and one", "123-4", "###-#"},
		{"trailing separator kept", "tel. 900-12.", "tel. ###-##."},
		// The unbroken case, as before.
		{"unbroken", "call 79001234567 now", "call ########### now"},
		{"unbroken ru", "номер 79001234567 недоступен", "номер ########### недоступен"},
		{"unbroken code", "pin 4610", "pin ####"},
		// Short numbers that are plainly not phone numbers stay readable.
		{"http status", "<h1>502 Bad Gateway</h1>", "<h1>502 Bad Gateway</h1>"},
		{"error code", "error 40", "error 40"},
		{"time", "retry at 12:30", "retry at 12:30"},
		{"time with seconds", "12:30:45", "12:30:45"},
		{"comma is no separator", "HTTP 502, 503", "HTTP 502, 503"},
		{"words between", "timeout 2 to 99, 123", "timeout 2 to 99, 123"},
		{"three digits", "+7 12", "+7 12"},
		{"short fraction", "page 1/2", "page 1/2"},
		{"short underscore pair", "error_40_2", "error_40_2"},
		{"comma still no separator", "codes 502,503", "codes 502,503"},
		{"colon still no separator", "at 12:30, 14:45", "at 12:30, 14:45"},
		{"ru short", "ошибка 40: попробуйте через 30 с", "ошибка 40: попробуйте через 30 с"},
		// The safe side: a date, a decimal with 4 digits, a dotted version
		// followed by a number all reach 4 digits and are masked.
		{"date", "2026-11-27", "####-##-##"},
		{"short date", "до 27.11", "до ##.##"},
		{"version then status", "HTTP/1.1 502", "HTTP/#.# ###"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitize(tt.in, 120); got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	// A header keeps its own threshold (5): "windows-1251" stays.
	if got := sanitizeHeader("text/html; charset=windows-1251"); got != "text/html; charset=windows-1251" {
		t.Errorf("sanitizeHeader = %q", got)
	}
	// The token-fragment masking is unchanged: 16 hex digits or more.
	if got := sanitize("id 0123456789abcdef end", 120); got != "id ################ end" {
		t.Errorf("hex run: %q", got)
	}
	// A formatted number crossing the excerpt cut is still masked.
	edge := strings.Repeat("x", 116) + " +7 (900) 123-45-67"
	if got := sanitize(edge, 120); strings.ContainsAny(got, "79") {
		t.Errorf("formatted number crossing the cut not masked: %q", got)
	}
}

// numberSpellings are provider texts quoting the destination +79001234567.
// Each also carries a word (wantWord) that shows the text was quoted.
var numberSpellings = []struct{ text, word string }{
	{"номер +7 (900) 123-45-67 недоступен", "недоступен"},
	{"number 8 900 123 45 67 unreachable", "unreachable"},
	{"call to +7-900-123-45-67 failed", "failed"},
	{"абонент 7.900.123.45.67 недоступен", "недоступен"},
	{"номер\u00a0+7\u00a0900\u00a0123\u00a045\u00a067 недоступен", "недоступен"},
	{"number 8 (900) 123–45–67 unreachable", "unreachable"},
	{"number +7 900 1234567 unreachable", "unreachable"},
	{"number 79001234567 unreachable", "unreachable"},
	{"number +7/900/123/45/67 unreachable", "unreachable"},
	{"number +7_900_123_45_67 unreachable", "unreachable"},
	{"номер 7·900·123·45·67 недоступен", "недоступен"},
}

// digitsOf keeps only the ASCII digits of s, so a number survives in it
// whatever separators it was written with.
func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// dropClock removes the time and the duration from log lines: their digits
// are the clock's and would only blur digitsOf.
func dropClock(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey || a.Key == "duration" {
		return slog.Attr{}
	}
	return a
}

// TestErrorQuotesNoFormattedNumber drives every spelling through the paths
// that quote provider text (the level-1 message, the level-2 message, the
// body excerpt) and checks that neither the error string nor the log lines
// carry the 10 digits of the number in any spelling.
func TestErrorQuotesNoFormattedNumber(t *testing.T) {
	const number = "9001234567"
	for _, sp := range numberSpellings {
		quoted, err := json.Marshal(sp.text)
		if err != nil {
			t.Fatal(err)
		}
		q := string(quoted)
		bodies := []struct {
			name, ctype string
			status      int
			body        string
		}{
			{"level-1 message", "application/json", 200, `{"status":"error","message":` + q + `}`},
			{"level-2 message", "application/json", 200, `{"status":"success","data":{"result":"error","message":` + q + `}}`},
			{"html excerpt", "text/html", 502, "<html>" + sp.text + "</html>"},
			{"json excerpt", "application/json", 500, `{"status":"success","data":{"callid":"a","result":"null","note":` + q + `}}`},
		}
		for _, b := range bodies {
			name := b.name + "/" + sp.text
			_, err := DecodeResponse(b.status, b.ctype, []byte(b.body))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: DecodeResponse = %v, want an *Error", name, err)
			}
			msg := e.Error()
			if !strings.Contains(msg, sp.word) {
				t.Fatalf("%s: the provider text is not quoted, the test misses its path: %s", name, msg)
			}
			if strings.Contains(digitsOf(msg), number) {
				t.Errorf("%s: error carries the number: %s", name, msg)
			}

			// The client's error and its log line (WARN or INFO).
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropClock}))
			p := newProvider(t, answer(b.status, b.ctype, b.body))
			c := newTestClient(t, p.srv.URL, 3, func(cfg *Config) { cfg.Logger = logger })
			_, serr := c.StartCall(context.Background(), mustPhone(t))
			if serr == nil {
				t.Fatalf("%s: StartCall succeeded", name)
			}
			if strings.Contains(digitsOf(serr.Error()), number) {
				t.Errorf("%s: StartCall error carries the number: %v", name, serr)
			}
			if !strings.Contains(buf.String(), "callpass start failed") {
				t.Fatalf("%s: no log line for the failure:\n%s", name, buf.String())
			}
			for _, line := range strings.Split(buf.String(), "\n") {
				if strings.Contains(digitsOf(line), number) {
					t.Errorf("%s: log line carries the number: %s", name, line)
				}
			}
		}
	}
}
