package testenv

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/runenames"
)

// ReadDigits keeps the decimal digits s spells, as ASCII, as a reader
// reads them: every script's digits ("７", "٧") and the digit forms that
// Unicode files as numbers but not as digits: superscript "⁷", subscript
// "₇", circled "⑦", "❼", "➆", parenthesized "⑺", with a full stop "⒎"
// or a comma, some standing for two digits ("⑩" is 10, "⒛" 20). The
// forms are read from Unicode's character names (runenames), not from the
// masking code's own tables, so that tests check that code against a
// second source.
func ReadDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case unicode.IsDigit(r):
			// Decimal digits come in runs of ten from zero.
			z := r
			for unicode.IsDigit(z - 1) {
				z--
			}
			b.WriteByte('0' + byte((r-z)%10))
		default:
			if v, ok := DigitFormValue(r); ok {
				b.WriteString(strconv.Itoa(v))
			}
		}
	}
	return b.String()
}

// DigitFormValue reads the value of a digit form (see ReadDigits) from its
// name: "SUPERSCRIPT NINE", "CIRCLED NUMBER TWENTY ONE", "DINGBAT NEGATIVE
// CIRCLED SANS-SERIF DIGIT ONE", "PARENTHESIZED NUMBER TEN", "DIGIT ZERO
// COMMA", "CIRCLED NUMBER TEN ON BLACK SQUARE". Any other rune, numbers of
// other systems (Roman, Ethiopic, fractions) included, is none.
func DigitFormValue(r rune) (int, bool) {
	words := strings.Fields(runenames.Name(r))
	form := false
prefix:
	for len(words) > 0 {
		switch words[0] {
		case "CIRCLED", "PARENTHESIZED", "SUPERSCRIPT", "SUBSCRIPT":
			form = true
		case "DINGBAT", "NEGATIVE", "DOUBLE", "SANS-SERIF":
		default:
			break prefix
		}
		words = words[1:]
	}
	if len(words) > 0 && (words[0] == "DIGIT" || words[0] == "NUMBER") {
		words = words[1:]
	}
	name := strings.Join(words, " ")
	for _, suffix := range []string{" FULL STOP", " COMMA", " ON BLACK SQUARE"} {
		if rest, ok := strings.CutSuffix(name, suffix); ok {
			name, form = rest, true
		}
	}
	if !form {
		return 0, false
	}
	return numberName(name)
}

var (
	unitNames = []string{"ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE",
		"TEN", "ELEVEN", "TWELVE", "THIRTEEN", "FOURTEEN", "FIFTEEN", "SIXTEEN", "SEVENTEEN", "EIGHTEEN", "NINETEEN"}
	tensNames = []string{"", "", "TWENTY", "THIRTY", "FORTY", "FIFTY", "SIXTY", "SEVENTY", "EIGHTY", "NINETY"}
)

// numberName reads "ZERO".."NINETEEN", "TWENTY".."NINETY" and "TWENTY ONE"
// (as circled numbers are named).
func numberName(s string) (int, bool) {
	tens, units, _ := strings.Cut(s, " ")
	for t := 2; t < len(tensNames); t++ {
		if tens != tensNames[t] {
			continue
		}
		if units == "" {
			return t * 10, true
		}
		for u := 1; u <= 9; u++ {
			if units == unitNames[u] {
				return t*10 + u, true
			}
		}
		return 0, false
	}
	for v, n := range unitNames {
		if s == n {
			return v, true
		}
	}
	return 0, false
}
