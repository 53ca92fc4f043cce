package callpass

import (
	"context"
	"html"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// escapeRE matches a JSON escape \uXXXX (after any number of backslashes:
// strconv.Quote and a JSON log line each double them), with the low half
// of a surrogate pair when one follows; refRE an HTML numeric character
// reference, decimal or hex, with or without its ';'.
var (
	escapeRE = regexp.MustCompile(`\\+u([0-9a-fA-F]{4})(?:\\+u([dD][c-fC-F][0-9a-fA-F]{2}))?`)
	refRE    = regexp.MustCompile(`&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));?`)
)

// readerView is s as a reader (or a tool) of a log line decodes it: JSON
// escapes, then HTML numeric character references, read as their runes.
func readerView(s string) string {
	s = escapeRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := escapeRE.FindStringSubmatch(m)
		hi, _ := strconv.ParseUint(sub[1], 16, 16)
		if sub[2] != "" {
			lo, _ := strconv.ParseUint(sub[2], 16, 16)
			return string(utf16.DecodeRune(rune(hi), rune(lo)))
		}
		return string(rune(hi))
	})
	return refRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := refRE.FindStringSubmatch(m)
		var v uint64
		if sub[1] != "" {
			v, _ = strconv.ParseUint(sub[1], 16, 32)
		} else {
			v, _ = strconv.ParseUint(sub[2], 10, 32)
		}
		return string(rune(v))
	})
}

// escapedSpellings spell the destination (+7 900 123-45-67) in a raw body
// the way an encoder may write it: JSON escapes of invisible or
// typographic characters between the digit groups (whose own hex digits
// break the number's digits apart), digits outside the BMP escaped as
// surrogate pairs, HTML numeric character references for a no-break space
// or hyphen (as a typographer writes a phone number in a page) and for the
// digits themselves. In the raw text a reader reads the number; the digit
// groups alone keep it (no group there has 4 digits of it).
var escapedSpellings = []struct{ name, text string }{
	{"escaped zero-width spaces", `7\u200b900\u200b123\u200b45\u200b67`},
	{"escaped soft hyphens", `7\u00ad900\u00AD123\u00ad45\u00ad67`},
	{"references encoded twice", `7&amp;#160;900&amp;#160;123&#38;#8209;45\u0026#8209;67`},
	{"escaped no-break spaces and hyphens", `+7\u00a0(900)\u00a0123\u201145\u201167`},
	{"escaped mathematical digits", "7a900a" + escapeUTF16("𝟏𝟐𝟑") + "a45a67"},
	{"escaped digits", `\u0037\u0039\u0030\u0030\u0031\u0032\u0033\u0034\u0035\u0036\u0037`},
	{"decimal no-break spaces", `7&#160;900&#160;123&#160;45&#160;67`},
	{"decimal no-break hyphens", `+7&#8209;900&#8209;123&#8209;45&#8209;67`},
	{"hex punctuation", `&#x2b;7&#x20;&#x28;900&#x29;&#x20;123&#x2d;45&#x2d;67`},
	{"decimal digits", `&#55;&#57;&#48;&#48;&#49;&#50;&#51;&#52;&#53;&#54;&#55;`},
	{"hex digits without ';'", `&#x37&#x39&#x30&#x30&#x31&#x32&#x33&#x34&#x35&#x36&#x37`},
	{"decimal letters between groups", `7&#1092;900&#1092;123&#1092;45&#1092;67`},
	{"decimal superscript digits", `&#8311;&#8313;&#8304;&#8304;&#185;&#178;&#179;&#8308;&#8309;&#8310;&#8311;`},
	{"escaped circled digits", escapeUTF16("⑦⑨⓪⓪①②③④⑤⑥⑦")},
	{"escaped dingbat digits beyond the BMP", "7a9" + escapeUTF16("🄋🄌❶➁") + "3a45a67"},
}

// escapeUTF16 writes every rune of s as JSON escapes (surrogate pairs
// beyond the BMP).
func escapeUTF16(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteString(`\u`)
		b.WriteString(strconv.FormatUint(uint64(u)|0x10000, 16)[1:])
	}
	return b.String()
}

// TestErrorTextMasksEscapedDestination: a raw body (an HTML page, a plain
// text, broken or unexpected JSON, quoted as the error's excerpt) or a
// provider message spelling the destination with JSON escapes or HTML
// character references: neither the error nor the client's log lines
// carry the number as a reader decodes them.
func TestErrorTextMasksEscapedDestination(t *testing.T) {
	forms := []errorForm{
		{"html page", 502, "text/html", func(s string) string { return "<html><body><p>gone: " + s + "</p></body></html>" }},
		{"plain text", 503, "text/plain", func(s string) string { return "gone: " + s }},
		{"broken json", 200, "application/json", func(s string) string { return `{"status":"error","message":"gone: ` + s + `",}` }},
		{"json excerpt", 500, "application/json", func(s string) string {
			return `{"status":"success","data":{"callid":"a","result":"null","note":"gone: ` + s + `"}}`
		}},
		{"level-1 message", 200, "application/json", func(s string) string { return `{"status":"error","message":"gone: ` + s + `"}` }},
	}
	for _, tt := range escapedSpellings {
		if !strings.Contains(anyDigits(renderedView(tt.text)), testenv.DestinationNational) {
			t.Fatalf("%s: %q does not spell the number", tt.name, tt.text)
		}
		for _, f := range forms {
			t.Run(tt.name+"/"+f.name, func(t *testing.T) {
				for _, op := range []string{OpStart, OpStatus} {
					err, logs := failedCall(t, op, f.status, f.ctype, f.body(tt.text), mustPhone(t))
					if !strings.Contains(err.Error(), "gone") {
						t.Fatalf("%s: the provider text is not quoted: %v", op, err)
					}
					if !utf8.ValidString(err.Error()) {
						t.Errorf("%s: error is not UTF-8: %q", op, err)
					}
					if carriesDestination(renderedView(err.Error())) {
						t.Errorf("%s: error carries the number: %v", op, err)
					}
					for _, line := range strings.Split(logs, "\n") {
						if carriesDestination(renderedView(line)) {
							t.Errorf("%s: log line carries the number: %s", op, line)
						}
					}
				}
			})
		}
	}
}

// TestStatusAndCallIDMaskEscapedDestination: a status text or a call id
// (decoded from the answer's JSON) that still holds escapes or character
// references spelling the destination, as a back end encoding twice
// writes them, is returned and logged masked too.
func TestStatusAndCallIDMaskEscapedDestination(t *testing.T) {
	for _, tt := range escapedSpellings {
		t.Run(tt.name, func(t *testing.T) {
			answer := `{"data":{"callid":` + quoted("id "+tt.text) + `,"phone":"2214610","result":` + quoted("busy "+tt.text) + `},"status":"success"}`
			p, c, buf := startAndStatus(t, answer, answer)
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.CallStatus(context.Background(), call.ID, mustPhone(t))
			if err != nil {
				t.Fatal(err)
			}
			if reqs := p.requests(); len(reqs) != 2 || reqs[1].form.Get("callid") != "id "+tt.text {
				t.Fatalf("status request %+v does not carry the exact id", reqs)
			}
			for _, s := range []string{call.ID, call.Status.Raw, st.Raw} {
				if carriesDestination(renderedView(s)) || !utf8.ValidString(s) {
					t.Errorf("%q carries the number", s)
				}
			}
			for _, line := range strings.Split(buf.String(), "\n") {
				if carriesDestination(renderedView(line)) {
					t.Errorf("log line carries the number: %s", line)
				}
			}
		})
	}
}

// TestReadable pins what readable decodes and what it leaves.
func TestReadable(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`plain 7 900`, `plain 7 900`},
		{`\u0037\u00AD9`, "7\u00ad9"},
		{`\ud835\udfd5`, "𝟕"},
		{`\ud835x`, "\uFFFDx"},             // lone high surrogate
		{`\udfd5\ud835\udfd5`, "\uFFFD𝟕"},  // lone low surrogate, then a pair
		{`\ud835\u0037`, "\uFFFD7"},        // high surrogate, then no low one
		{`\u12`, `\u12`},                   // too short
		{`\u12g4`, `\u12g4`},               // not hex
		{`\\u0037`, `\7`},                  // read as a reader may
		{`&#55;&#x37;&#X37&#55 `, "7777 "}, // ';' optional
		{`&#;&#x;&#`, `&#;&#x;&#`},         // no digits
		{`&#0;&#xD800;&#99999999999;`, "\uFFFD\uFFFD\uFFFD"},
		{`a&#1092;b`, "aфb"},
		{`&amp;&nbsp;&lt;`, "&\u00a0<"}, // named references, as html.UnescapeString reads them
		{`&sup2;&sup3;&AMP&ampx&xyz;`, "²³&&x&xyz;"},
		// Encoded twice, or more: read until nothing changes.
		{`&amp;#55;&#38;#55;\u0026#55;&amp;amp;#55;`, "7777"},
		{`&amp#55;&AMP;#55;&&num;55;&bsol;u0037`, "7777"}, // named spellings of '&', '#', '\\'
		{`&amp;amp;amp;#55;`, "7"},                        // maxReadablePasses passes
		// Deeper: every letter and digit masked.
		{`x &amp;amp;amp;amp;#55;`, "# &###;"},
		{`&amp;amp;amp;amp;amp;#55;`, "&###;###;"},
	} {
		if got := readable(tt.in); got != tt.want {
			t.Errorf("readable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMaskingNestedNumbersBounded: each pass of maskSecrets unmasks
// nothing but may join the digits around what it masked into the number
// again ("90012" + number + "34567"); a text nesting the number so, as deep
// as an error page allows (64 KiB: thousands of passes of the whole page,
// seconds of CPU), is masked in a few passes all the same, and carries
// neither secret after.
func TestMaskingNestedNumbersBounded(t *testing.T) {
	nest := func(inner, before, after string, size int) string {
		for len(inner) < size {
			inner = before + inner + after
		}
		return inner
	}
	for _, tt := range []struct{ name, text string }{
		{"number", nest("9001234567", "90012", "34567", maxBody)},
		{"number with letters", nest("9001234567", "9a0a0a1a2", "3a4a5a6a7", maxBody)},
		{"token", nest(testToken[:16], testToken[:8], testToken[8:16], maxBody)},
		{"token and number", nest("9001234567", testToken[:8]+"90012", "34567"+testToken[8:16], maxBody)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			n := allocs.Min(1, func() { got = maskSecrets(tt.text, testToken, "9001234567") })
			if carriesNumber(got, "9001234567") || carriesToken(got, testToken) {
				t.Errorf("masked text still carries a secret")
			}
			if n > 100 {
				t.Errorf("%v allocations: a pass per nesting level", n)
			}
		})
	}
}

// TestFindsAgreesWithMatchSpans: carriesToken and carriesNumber look the
// keys up in chunks; they must find exactly what matchSpans finds on all
// of them, matches across a chunk's end included.
func TestFindsAgreesWithMatchSpans(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"9001234567", "7", "8", "900", "a", "ф", "-", " ", "x", "０", "٧", "⁷", "⑩", "㉓", "❼", "⓿", "⒛", testToken[:16], testToken[3:20], strings.ToUpper(testToken[10:30]), "g", "#", "\xff"}
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		// Texts around one chunk, two or three of them.
		for size := 1000 + rng.IntN(6000); b.Len() < size; {
			if rng.IntN(4) == 0 {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			} else {
				b.WriteByte("0123456789abcdefz "[rng.IntN(18)])
			}
		}
		s := b.String()
		for _, tok := range []string{testToken, "not-hex-token-0123456789"} {
			_, want := matchSpans([]rune(s), tokenKeys, tokenSpans(tok))
			if got := carriesToken(s, tok); got != want {
				t.Fatalf("carriesToken(%q, %q) = %v, matchSpans %v", s, tok, got, want)
			}
		}
		_, want := matchSpans([]rune(s), runeDigits, numberSpans("9001234567"))
		if got := carriesNumber(s, "9001234567"); got != want {
			t.Fatalf("carriesNumber(%q) = %v, matchSpans %v", s, got, want)
		}
		if m := maskSecrets(s, testToken, "9001234567"); carriesToken(m, testToken) || carriesNumber(m, "9001234567") || m != s && !utf8.ValidString(m) {
			t.Fatalf("maskSecrets(%q) = %q", s, m)
		}
	}
	// A match starting anywhere near the end of the first chunk, each key
	// its own rune, after keys that match nothing.
	for start := 2000; start < 2060; start++ {
		for _, m := range []struct {
			filler, match string
			found         func(string) bool
		}{
			{"1", "9001234567", func(s string) bool { return carriesNumber(s, "9001234567") }},
			{"z", testToken[:16], func(s string) bool { return carriesToken(s, testToken) }},
		} {
			if s := strings.Repeat(m.filler, start) + m.match + " ..."; !m.found(s) {
				t.Errorf("%q from key %d is not found", m.match, start)
			}
		}
	}
}

// TestCleanReadsInvalidUTF8AsToValidUTF8: clean reads a run of invalid
// bytes as one U+FFFD, as it did when it made the whole text valid first.
func TestCleanReadsInvalidUTF8AsToValidUTF8(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"\xff", "\xe2\x82", "\xc3", "\uFFFD", "a", " ", "\t", "1", "2", "-", "ф", "\u200b", "\x00"}
	for i := 0; i < 5000; i++ {
		var b strings.Builder
		for n := rng.IntN(60); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		for _, limit := range []int{8, 40, 120} {
			if got, want := clean(s, limit, maskedRun), clean(strings.ToValidUTF8(s, "\uFFFD"), limit, maskedRun); got != want || !utf8.ValidString(got) {
				t.Fatalf("clean(%q, %d) = %q, want %q", s, limit, got, want)
			}
		}
	}
}

// TestEscapedDigitsMaskedWithoutSecrets: DecodeResponse, which knows no
// token and no destination, still reads escapes and numeric references
// before masking digit groups: "&#48;&#52;&#52;&#54;" is the code 0446 to
// whoever reads the excerpt.
func TestEscapedDigitsMaskedWithoutSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
	}{
		{"HTML decimal references", "text/html", "<p>your code &#48;&#52;&#52;&#54; failed</p>"},
		{"HTML hex references", "text/html", "<p>code &#x30;&#x34;&#x34;&#x36;</p>"},
		{"JSON escapes in a message", "application/json", `{"status":"error","message":"code \u0030\u0034\u0034\u0036 refused"}`},
		{"JSON escapes in a raw body", "text/plain", `code \u0030\u0034\u0034\u0036`},
		{"HTML encoded twice", "text/html", "<p>code &amp;#48;&amp;#52;&amp;#52;&amp;#54;</p>"},
		{"numeric references encoded twice", "text/html", "<p>code &#38;#48;&#38;#52;&#38;#52;&#38;#54;</p>"},
		{"a JSON escape of a reference", "text/plain", `code \u0026#48;\u0026#52;\u0026#52;\u0026#54;`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeResponse(502, tc.ctype, []byte(tc.body))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(renderedView(msg), "0446") {
				t.Errorf("error shows the code, encoded: %q", msg)
			}
		})
	}
}

// renderedView is s as a log viewer rendering HTML may show it, however
// many times it was encoded: readerView and the standard library's HTML
// reader (named references too), over and over.
func renderedView(s string) string {
	for range 8 {
		t := html.UnescapeString(readerView(s))
		if t == s {
			break
		}
		s = t
	}
	return s
}

// TestShownTextHoldsNoReference: what masking or cleaning removed or
// replaced joins no reference or escape in the text shown, which a reader
// or a page rendering it decodes into a code ("&\u200b#48;" with the
// invisible space dropped, a mask '#' after '&' as in "7900123456&748;"),
// and text nesting references deeper than readable reads shows neither.
func TestShownTextHoldsNoReference(t *testing.T) {
	code := func(f func(d string) string) string { return f("48") + f("52") + f("52") + f("54") }
	texts := []struct{ name, text string }{
		{"invisible space dropped", code(func(d string) string { return "&\u200b#" + d + ";" })},
		{"escaped invisible space dropped", code(func(d string) string { return `&\u200b#` + d + ";" })},
		{"soft hyphen dropped", code(func(d string) string { return "&\u00ad#" + d + ";" })},
		{"control character dropped", code(func(d string) string { return "&\x01#" + d + ";" })},
		{"mask after '&'", code(func(d string) string { return "7900123456&7" + d + ";" })},
		{"encoded five times", code(func(d string) string { return "&amp;amp;amp;amp;#" + d + ";" })},
		{"encoded six times", code(func(d string) string { return "&amp;amp;amp;amp;amp;#" + d + ";" })},
		{"legacy '&amp' without ';'", code(func(d string) string { return "&amp#" + d + ";" })},
		{"named '#'", code(func(d string) string { return "&&num;" + d + ";" })},
		{"superscript names", "&sup2;&sup3;&sup2;&sup1;"},
	}
	c := &Client{token: testToken}
	for _, tt := range texts {
		var shownTexts []string
		for _, m := range []secrets{{}, clientSecrets} {
			_, err := decodeAnswer(502, "text/html", []byte("<p>code "+tt.text+"</p>"), m)
			e := err.(*Error)
			shownTexts = append(shownTexts, e.Excerpt, e.Error())
			_, err = decodeAnswer(200, "application/json", []byte(`{"status":"error","message":"`+strings.ReplaceAll(tt.text, `\`, `\\`)+`"}`), m)
			shownTexts = append(shownTexts, err.(*Error).Message)
		}
		shownTexts = append(shownTexts, c.classify("x"+tt.text, false, testenv.DestinationNational).Raw)
		// A masked call id shows digits other than the destination's
		// (see callid.go), but no reference either.
		id := c.maskedCallID(tt.text, testenv.DestinationNational)
		for _, s := range append(shownTexts, id) {
			r := renderedView(s)
			if r != s {
				t.Errorf("%s: %q holds a reference (%q)", tt.name, s, r)
			}
			if s != id && (strings.Contains(anyDigits(r), "0446") || strings.Contains(anyDigits(r), "2321")) {
				t.Errorf("%s: %q shows the code", tt.name, s)
			}
		}
	}
}

// TestNumberJoinedByMaskingMasked: a digit group or a hex run clean masks
// no longer parts the digits around it, which may then read as the
// destination ("900x#####x123x45x67", as FuzzDecodeResponse found): the
// shown text is masked for it again.
func TestNumberJoinedByMaskingMasked(t *testing.T) {
	c := &Client{token: testToken}
	for _, tt := range []struct{ name, text string }{
		{"digit group", "900x00000x123x45x67"},
		{"fuzz input", "00000000000000000000XA900AAAX00000A1A2A3A4A5X670"},
		{"hex run", "900-abcdef0abcdef0abcd-123-45-67"},
	} {
		if carriesDestination(tt.text) {
			t.Fatalf("%s: %q carries the number as it comes", tt.name, tt.text)
		}
		_, err := decodeAnswer(502, "text/plain", []byte(tt.text), clientSecrets)
		e := err.(*Error)
		_, merr := decodeAnswer(200, "application/json", []byte(`{"status":"error","message":"`+tt.text+`"}`), clientSecrets)
		for _, s := range []string{e.Excerpt, merr.(*Error).Message,
			c.classify(tt.text, false, testenv.DestinationNational).Raw,
			c.maskedCallID(tt.text, testenv.DestinationNational)} {
			if carriesDestination(s) {
				t.Errorf("%s: %q carries the number", tt.name, s)
			}
		}
	}
}
