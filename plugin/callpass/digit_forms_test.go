package callpass

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestRuneDigits pins the digits a rune stands for: ASCII, other scripts'
// decimal digits, and the digit forms unicode.IsDigit does not report,
// one or two digits each; numbers of other kinds are no digits.
func TestRuneDigits(t *testing.T) {
	for _, tt := range []struct {
		r    rune
		want string
	}{
		{'7', "7"}, {'７', "7"}, {'٧', "7"}, {'𝟕', "7"},
		{'⁷', "7"}, {'¹', "1"}, {'²', "2"}, {'³', "3"}, {'⁰', "0"}, // superscript
		{'₇', "7"}, {'₀', "0"}, // subscript
		{'⑦', "7"}, {'⓪', "0"}, {'⑩', "10"}, {'⑳', "20"}, {'㉑', "21"}, {'㊿', "50"}, // circled
		{'❼', "7"}, {'❿', "10"}, {'➆', "7"}, {'➐', "7"}, {'➓', "10"}, {'🄋', "0"}, {'🄌', "0"}, // dingbats
		{'⓫', "11"}, {'⓴', "20"}, {'⓻', "7"}, {'⓾', "10"}, {'⓿', "0"}, // negative, double circled
		{'㉈', "10"}, {'㉏', "80"}, // circled on a black square
		{'⑺', "7"}, {'⒇', "20"}, // parenthesized
		{'⒎', "7"}, {'⒛', "20"}, {'🄀', "0"}, {'🄈', "7"}, // full stop, comma
		// No digits: letters, other number systems, fractions, units.
		{'a', ""}, {'#', ""}, {' ', ""}, {'Ⅶ', ""}, {'፯', ""}, {'½', ""}, {'㏩', ""}, {'㎡', ""}, {'⒜', ""}, {'㊆', ""},
		{utf8.RuneError, ""},
	} {
		if got := runeDigits(tt.r); got != tt.want {
			t.Errorf("runeDigits(%q %U) = %q, want %q", tt.r, tt.r, got, tt.want)
		}
		if got := isDigitRune(tt.r); got != (tt.want != "") {
			t.Errorf("isDigitRune(%q) = %v", tt.r, got)
		}
	}
}

// TestRuneDigitsMatchUnicodeNames: over every rune, runeDigits agrees with
// the digits testenv.ReadDigits reads from Unicode's names: no digit form
// of the named families is missed (NFKC leaves the dingbats unmapped), and
// nothing else counts.
func TestRuneDigitsMatchUnicodeNames(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every rune's name")
	}
	forms := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		want := testenv.ReadDigits(string(r))
		if got := runeDigits(r); got != want {
			t.Errorf("runeDigits(%q %U) = %q, its name reads %q", r, r, got, want)
		}
		if want != "" && !unicode.IsDigit(r) {
			forms++
		}
	}
	// 183 in Go 1.26's Unicode: 20 superscript and subscript, 51 circled
	// (⓪ to ㊿), 32 dingbats, 29 other circled, 20 parenthesized, 31 with a
	// full stop or comma.
	if forms < 183 {
		t.Errorf("%d digit forms read from the names, Unicode has 183: the names are misread", forms)
	}
}

// TestRuneDigitsAllocateNothing: masking reads every rune of a page of up
// to 64 KiB; the digits of a rune are constant strings.
func TestRuneDigitsAllocateNothing(t *testing.T) {
	text := "7７٧⁷₇⑦⑩㊿❼➓⓫⑺⒛🄀a½"
	n := 0
	if n := allocs.Min(100, func() {
		for _, r := range text {
			n += len(runeDigits(r))
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestNumberSeparatorForms: a compatibility form of a number separator
// (fullwidth, superscript, small) joins digits as the separator does; one
// of ':' or ',' or a letter does not.
func TestNumberSeparatorForms(t *testing.T) {
	for _, r := range "（）＋－．⁽⁾⁺⁻₍₎﹣﹙／＿" {
		if !isNumberSeparator(r) {
			t.Errorf("%q is no number separator", r)
		}
	}
	for _, r := range "：，ａ½" {
		if isNumberSeparator(r) {
			t.Errorf("%q is a number separator", r)
		}
	}
}

// TestSanitizeDigitForms: digit groups in digit forms (superscript,
// subscript, circled, parenthesized, with a full stop) or mixed with ASCII
// digits are masked as ASCII ones are, each rune whole; a rune for two
// digits counts both. Short groups stay.
func TestSanitizeDigitForms(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"superscript", "номер +7⁹⁰⁰¹²³⁴⁵⁶⁷ недоступен", "номер +########### недоступен"},
		{"superscript code", "pin ⁰⁴⁴⁶", "pin ####"},
		{"subscript", "number ₈₉₀₀₁₂₃₄₅₆₇", "number ###########"},
		{"circled", "code ①②③④", "code ####"},
		{"dingbat circled", "code ❶➁➌⓸", "code ####"},
		{"parenthesized", "code ⑴⑵⑶⑷", "code ####"},
		{"full stop", "code ⒈⒉⒊⒋", "code ####"},
		{"mixed with ASCII", "call 79⁰⁰12³4567 now", "call ########### now"},
		{"mixed formatted", "+7 (⁹⁰⁰) ₁₂₃-45-⑥⑦", "+# (###) ###-##-##"},
		{"superscript separators", "⁺⁷ ⁽⁹⁰⁰⁾ ¹²³⁻⁴⁵⁻⁶⁷", "⁺# ⁽###⁾ ###⁻##⁻##"},
		{"two-digit runes", "code ⑩⑪", "code ##"},
		{"two-digit rune and two digits", "code ⑳ 15", "code # ##"},
		{"fullwidth brackets", "номер ＋7（900）123－45－67", "номер ＋#（###）###－##－##"},
		// Short groups stay readable.
		{"square metres", "area 12 m²", "area 12 m²"},
		{"exponent", "10⁻³ s", "10⁻³ s"},
		{"one two-digit rune", "step ⑫ of ⑳", "step ⑫ of ⑳"},
		{"three", "error ¹²³", "error ¹²³"},
		{"fraction is no digit", "½ 123", "½ 123"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitize(tt.in, 120); got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestSanitizeDigitsWithMarks: a combining mark on a digit (an emoji
// keycap, a variation selector, a strike-through, an accent) leaves it a
// digit and its group whole: a code sent as keycap emoji "0️⃣4️⃣4️⃣6️⃣" is
// masked as "0446" is.
func TestSanitizeDigitsWithMarks(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"keycap emoji", "code 0\uFE0F\u20E34\uFE0F\u20E34\uFE0F\u20E36\uFE0F\u20E3", "code #\uFE0F\u20E3#\uFE0F\u20E3#\uFE0F\u20E3#\uFE0F\u20E3"},
		{"keycap", "code 0\u20E34\u20E34\u20E36\u20E3 ok", "code #\u20E3#\u20E3#\u20E3#\u20E3 ok"},
		{"strike-through", "code 0\u03364\u03364\u03366\u0336", "code #\u0336#\u0336#\u0336#\u0336"},
		{"enclosing circle, spaced", "code 0\u20DD 4\u20DD 4\u20DD 6\u20DD", "code #\u20DD #\u20DD #\u20DD #\u20DD"},
		{"superscript with an accent", "code ⁰⁴\u0301⁴⁶", "code ##\u0301##"},
		{"variation selector", "code 1\U000E01002\U000E01003\U000E01004", "code #\U000E0100#\U000E0100#\U000E0100#"},
		{"formatted number", "+7\u20E3 (9\u20E30\u20E30\u20E3) 1\u20E32\u20E33\u20E3", "+#\u20E3 (#\u20E3#\u20E3#\u20E3) #\u20E3#\u20E3#\u20E3"},
		// Short groups stay readable.
		{"short", "step 1\u20E3 of 3\u20E3", "step 1\u20E3 of 3\u20E3"},
		{"three", "error 5\u03360\u03362\u0336", "error 5\u03360\u03362\u0336"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitize(tt.in, 120); got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestSanitizeLooseGroups: digits joined by anything but letters (':',
// ',', ';') are masked from 10 digits, in an error as in a status text;
// times and short lists stay.
func TestSanitizeLooseGroups(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"busy 7:800:555:44:33", "busy #:###:###:##:##"},
		{"busy 7,800,555,44,33", "busy #,###,###,##,##"},
		{"busy 7, 800, 555, 44, 33", "busy #, ###, ###, ##, ##"},
		{"busy 7;800;555;44;33", "busy #;###;###;##;##"},
		{"busy ⁷:⁸⁰⁰:⁵⁵⁵:⁴⁴:³³", "busy #:###:###:##:##"},
		{"busy 7:800:555:⑷⑷:㉝", "busy #:###:###:##:#"},
		{"at 12:30, 14:45", "at 12:30, 14:45"},
		{"HTTP 502, 503, 504", "HTTP 502, 503, 504"},
		{"7:800 then 555:44:33", "7:800 then 555:44:33"},
	} {
		if got := sanitize(tt.in, 120); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The token-free call id path keeps digit masking off.
	if got := clean("id 7:800:555:44:33", 120, math.MaxInt); got != "id 7:800:555:44:33" {
		t.Errorf("clean with masking off = %q", got)
	}
}

// TestSanitizeDigitFormsCrossingTheCut: a number in digit forms, or joined
// loosely, that crosses the cut shows no digit before it; the text stays
// valid UTF-8 within the limit, however many bytes the masked runes had.
func TestSanitizeDigitFormsCrossingTheCut(t *testing.T) {
	for _, number := range []string{
		"⁹⁰⁰¹²³⁴⁵⁶⁷", "⑨⓪⓪①②③④⑤⑥⑦", "⑽⑾⑿⒀⒁", "❾⓿⓿❶❷❸❹❺❻❼", "7⁹0⁰1¹2²3³",
		"7, 9, 0, 0, 1, 2, 3, 4, 5, 6, 7", "7: 900: 123: 45: 67",
	} {
		for pad := 100; pad <= 125; pad++ {
			in := strings.Repeat("x", pad) + " " + number + " tail"
			got := sanitize(in, 120)
			if !utf8.ValidString(got) || len(got) > 120 {
				t.Fatalf("sanitize(%q) = %q: not UTF-8 or too long", in, got)
			}
			if d := anyDigits(got); d != "" {
				t.Errorf("pad %d: sanitize(…%q) = …%q shows digits %s", pad, number, got[min(pad, len(got)):], d)
			}
		}
	}
}

// TestMaskSecretsDigitForms: the destination spelled in digit forms is
// masked rune by rune, a rune standing for two digits whole even when only
// one of them is the number's (or its prefix's).
func TestMaskSecretsDigitForms(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"to ⁷⁹⁰⁰¹²³⁴⁵⁶⁷", "to ###########"},
		{"to ₉₀₀₁₂₃₄₅₆₇!", "to ##########!"},
		{"to ⑨⓪⓪①②③④⑤⑥⑦", "to ##########"},
		{"to ❾⓿⓿➀❷③⓸➎⓺⑦", "to ##########"},
		{"to 9001㉓4567", "to #########"},
		{"to ⑰9001234567", "to ###########"},     // ⑰: 1 and the country code 7
		{"to 900123456㉎ ok", "to ########## ok"}, // ㉎: 70, the number's last 7 and a 0
		{"to ⒐⓪⓪⒈⒉⒊⒋⒌⒍⒎.", "to ##########."},
		{"other ⁸⁰⁰⁵⁵⁵⁴⁴³³", "other ⁸⁰⁰⁵⁵⁵⁴⁴³³"},
	} {
		got := maskSecrets(tt.in, testToken, "9001234567")
		if got != tt.want {
			t.Errorf("maskSecrets(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if carriesNumber(got, "9001234567") || carriesDestination(got) {
			t.Errorf("maskSecrets(%q) = %q carries the number", tt.in, got)
		}
		if !carriesNumber(tt.in, "9001234567") && tt.in != tt.want {
			t.Errorf("carriesNumber(%q) = false", tt.in)
		}
	}
	// The bound of maskSecrets' passes masks every digit form too.
	nested := "9001234567"
	for len(nested) < maxBody {
		nested = "⁹⁰⁰¹²" + nested + "³⁴⁵⁶⁷"
	}
	if got := maskSecrets(nested, testToken, "9001234567"); carriesNumber(got, "9001234567") || strings.ContainsFunc(got, isDigitRune) {
		t.Error("nested number in digit forms is not masked whole")
	}
}

// TestSanitizeRandomDigitForms: random texts of digits in every form,
// separators, letters and invalid bytes, cut at several limits: the result
// is valid UTF-8 within the limit, keeps no 4 digits in a row and no group
// of 10 digits joined by anything but letters, whatever the forms and
// wherever the cut falls.
func TestSanitizeRandomDigitForms(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 1))
	alphabet := []string{"1", "7", "⁷", "₀", "²", "⑩", "⑦", "❶", "➓", "⒈", "⑴", "🄁", "٧", "７", "-", " ", ", ", ":", "⁽", "a", "ф", "\xff", "x", "\u20E3", "\uFE0F", "\u0336"}
	for i := 0; i < 5000; i++ {
		var b strings.Builder
		for n := rng.IntN(80); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := b.String()
		for _, limit := range []int{8, 40, 120} {
			got := sanitize(s, limit)
			if !utf8.ValidString(got) || len(got) > limit {
				t.Fatalf("sanitize(%q, %d) = %q: not UTF-8 or too long", s, limit, got)
			}
			if hasFourDigits(got) {
				t.Fatalf("sanitize(%q, %d) = %q keeps 4 digits in a row", s, limit, got)
			}
			for _, group := range strings.FieldsFunc(got, unicode.IsLetter) {
				if d := anyDigits(group); len(d) >= statusMaskedRun {
					t.Fatalf("sanitize(%q, %d) = %q keeps the group %q", s, limit, got, group)
				}
			}
		}
	}
}

// TestMaskSecretsTokenForms: the token with its digits in digit forms
// (superscript, fullwidth, circled) or its letters fullwidth is the token:
// maskSecrets masks it and no error shows a piece of it, as for the
// destination in those forms.
func TestMaskSecretsTokenForms(t *testing.T) {
	forms := func(digits string, letters bool) func(string) string {
		return func(s string) string {
			var b strings.Builder
			for _, r := range s {
				switch {
				case r >= '0' && r <= '9':
					b.WriteRune([]rune(digits)[r-'0'])
				case letters && r >= 'a' && r <= 'z':
					b.WriteRune(r - 'a' + 'ａ')
				default:
					b.WriteRune(r)
				}
			}
			return b.String()
		}
	}
	// fold reads s as a reader does: digits of any form (from Unicode's
	// names) and fullwidth letters as ASCII.
	fold := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			switch d := anyDigits(string(r)); {
			case d != "":
				b.WriteString(d)
			case r >= 'ａ' && r <= 'ｚ':
				b.WriteRune(r - 'ａ' + 'a')
			default:
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	superscript, fullwidth, circled := "⁰¹²³⁴⁵⁶⁷⁸⁹", "０１２３４５６７８９", "⓪①②③④⑤⑥⑦⑧⑨"
	for _, tt := range []struct {
		name string
		tok  string
	}{
		{"superscript digits", forms(superscript, false)(testToken)},
		{"fullwidth digits", forms(fullwidth, false)(testToken)},
		{"circled digits", forms(circled, false)(testToken)},
		{"fullwidth", forms(fullwidth, true)(testToken)},
		{"one superscript digit", testToken[:15] + "⁸" + testToken[16:]},
		{"second half superscript", testToken[:16] + forms(superscript, false)(testToken[16:])},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !carriesToken(tt.tok, testToken) {
				t.Errorf("carriesToken(%q) = false", tt.tok)
			}
			if got := maskSecrets("bad token "+tt.tok+" refused", testToken, ""); leaks(fold(got)) != "" {
				t.Errorf("maskSecrets = %q: %s", got, leaks(fold(got)))
			}
			_, err := decodeAnswer(502, "text/plain", []byte("bad token "+tt.tok+" refused"), clientSecrets)
			if err == nil || leaks(fold(err.Error())) != "" {
				t.Errorf("error %v shows the token", err)
			}
		})
	}
}

// TestMayFoldToASCII: every rune whose compatibility decomposition is one
// ASCII letter or digit, and not read by runeDigits first, passes
// mayFoldToASCII (tokenKeys skips the others).
func TestMayFoldToASCII(t *testing.T) {
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		d := norm.NFKC.PropertiesString(string(r)).Decomposition()
		if len(d) == 1 && tokenKey(rune(d[0])) != 0 && runeDigits(r) == "" && !mayFoldToASCII(r) {
			t.Errorf("%q %U folds to %q, mayFoldToASCII says not", r, r, d)
		}
	}
}
