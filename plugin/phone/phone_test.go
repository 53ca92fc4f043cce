package phone

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseSpellings(t *testing.T) {
	const want = "+79001234567"
	inputs := []string{
		"+7 (900) 123-45-67",
		"+7(900)123-45-67",
		"+7 900 123 45 67",
		"+79001234567",
		"8 900 123 45 67",
		"8 (900) 123-45-67",
		"89001234567",
		"79001234567",
		"7 900 123 45 67",
		"9001234567",
		"900 123-45-67",
		"(900) 123 45 67",
		"  +7 900 123 45 67  ",
		"+7.900.123.45.67",
		"+7\u00a0900\u00a0123\u00a045\u00a067",
		// Look-alikes Kratos's tel format accepts: fullwidth (an IME),
		// the dashes and minus of a word processor, narrow spaces, tabs.
		"\uff17\uff19\uff10\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17",
		"\uff0b\uff17\uff08\uff19\uff10\uff10\uff09\uff11\uff12\uff13\uff0d\uff14\uff15\uff0d\uff16\uff17",
		"+7 900 123\u201345\u201367",
		"+7 900 123\u221245\u221267",
		"8\u2011900\u2011123\u20114567",
		"+7\u202f900\u202f123\u202f45\u202f67",
		"+7\t900\t123 45 67",
		"\u3000+7 900 123 45 67\u3000",
	}
	for _, in := range inputs {
		t.Run(in, func(t *testing.T) {
			n, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", in, err)
			}
			if got := n.E164(); got != want {
				t.Fatalf("E164 = %q, want %q", got, want)
			}
			if got := n.Digits(); got != "79001234567" {
				t.Fatalf("Digits = %q", got)
			}
			if n.IsZero() {
				t.Fatal("IsZero on a parsed number")
			}
		})
	}
}

func TestParseOtherValidNumbers(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+7 495 123-45-67", "+74951234567"}, // Moscow landline
		{"8 (812) 123-45-67", "+78121234567"},
		{"+7 916 000-00-01", "+79160000001"},
		{"+7 701 123 4567", "+77011234567"}, // Kazakhstan shares +7
	}
	for _, tt := range tests {
		n, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if n.E164() != tt.want {
			t.Fatalf("Parse(%q) = %q, want %q", tt.in, n.E164(), tt.want)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, in, reason string
	}{
		{"empty", "", ReasonEmpty},
		{"blank", "   ", ReasonEmpty},
		{"letters", "+7 900 ABC 45 67", ReasonCharacters},
		{"vanity", "8-800-FLOWERS", ReasonCharacters},
		{"words", "call me", ReasonCharacters},
		{"plus inside", "7+9001234567", ReasonCharacters},
		{"extension", "+7 900 123 45 67 ext 5", ReasonCharacters},
		{"too short", "123", ReasonInvalid},
		{"short national", "900 123 45", ReasonInvalid},
		{"too many digits", "+7 900 123 45 678", ReasonInvalid},
		{"us number", "+1 202 555 0123", ReasonCountry},
		{"uk number", "+44 20 7946 0958", ReasonCountry},
		{"german number", "+49 30 123456", ReasonCountry},
		{"invalid range", "+7 000 123 45 67", ReasonInvalid},
		{"too long input", strings.Repeat("9", MaxInputLen+1), ReasonTooLong},
		{"long spaced", "+7" + strings.Repeat(" ", 70) + "9001234567", ReasonTooLong},
		{"only plus", "+", ReasonInvalid},
		{"control char", "+7900123\x004567", ReasonCharacters},
		// Only look-alikes of the allowed characters are folded.
		{"arabic-indic digits", "+\u0667\u0669\u0660\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667", ReasonCharacters},
		{"fullwidth letters", "+7 900 \uff21\uff22\uff23 45 67", ReasonCharacters},
		{"fullwidth plus inside", "7\uff0b9001234567", ReasonCharacters},
		{"zero-width space", "+7 900\u200b123 45 67", ReasonCharacters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want error", tt.in, n.E164())
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *phone.Error", err)
			}
			if pe.Reason != tt.reason {
				t.Fatalf("Reason = %q, want %q", pe.Reason, tt.reason)
			}
			if !n.IsZero() {
				t.Fatal("failed Parse returned a non-zero number")
			}
			digits := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, tt.in)
			if len(digits) >= 4 && strings.Contains(err.Error(), digits) {
				t.Fatalf("error message %q echoes the input", err.Error())
			}
		})
	}
}

func TestMaskingNeverLeaks(t *testing.T) {
	n, err := Parse("+7 900 123-45-67")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.Masked(), "+7 900 ***-**-67"; got != want {
		t.Fatalf("Masked = %q, want %q", got, want)
	}
	for _, s := range []string{
		fmt.Sprint(n), fmt.Sprintf("%v %s %+v %#v", n, n, n, n), n.String(),
		fmt.Sprintf("%v", struct{ N Number }{n}),
	} {
		if strings.Contains(s, "1234567") || strings.Contains(s, "12345") {
			t.Fatalf("formatted number leaks digits: %q", s)
		}
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "phone", n)
	if strings.Contains(buf.String(), "9001234567") || !strings.Contains(buf.String(), "***-**-67") {
		t.Fatalf("slog output not masked: %s", buf.String())
	}
	var zero Number
	if !zero.IsZero() || zero.Masked() != "" || zero.E164() != "" || zero.Digits() != "" {
		t.Fatalf("zero Number not empty: %#v", zero)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"+7 (900) 123-45-67", "8 900 123 45 67", "79001234567", "9001234567",
		"+74951234567", "+77011234567", "+1 202 555 0123", "+44 20 7946 0958",
		"", "+", "8", "88888888888", "+7", "+7 (", "((((", "8-800-FLOWERS",
		"+7 900 123 45 67 ext 5", "\u00a0+7\u00a0900", "７９００１２３４５６７",
		strings.Repeat("9", 65), "+0 000", "+7 000 000 00 00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !n.IsZero() {
				t.Fatal("error with non-zero number")
			}
			return
		}
		e := n.E164()
		if !strings.HasPrefix(e, "+7") {
			t.Fatalf("E164 %q does not start with +7", e)
		}
		d := n.Digits()
		if len(d) != 11 || !AllDigits(d) || "+"+d != e {
			t.Fatalf("Digits %q inconsistent with %q", d, e)
		}
		again, err := Parse(e)
		if err != nil {
			t.Fatalf("Parse(E164 %q) failed: %v", e, err)
		}
		if again != n {
			t.Fatalf("round trip %q -> %q", e, again.E164())
		}
		if m := n.Masked(); strings.Contains(m, d[4:9]) {
			t.Fatalf("Masked %q leaks middle digits of %q", m, d)
		}
	})
}

// TestCanonicalFastPath checks that "+7" and ten digits parse exactly as
// the library path parses them (number, or error reason) for every leading
// four digits, each with random and edge subscriber parts.
func TestCanonicalFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	n := 0
	for prefix := 1000; prefix <= 9999; prefix++ {
		tails := []string{"000000", "999999", fmt.Sprintf("%06d", rng.IntN(1000000)), fmt.Sprintf("%06d", rng.IntN(1000000))}
		for _, tail := range tails {
			in := fmt.Sprintf("+7%d%s", prefix, tail)
			if !isCanonicalForm(in) {
				t.Fatalf("%s not seen as canonical", in)
			}
			got, gotErr := parseCanonical(in)
			want, wantErr := parseWithLibrary(in)
			if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("%s: fast path %q %v, library %q %v", in, got.E164(), gotErr, want.E164(), wantErr)
			}
			if gotErr == nil {
				n++
			}
		}
	}
	if n < 5000 {
		t.Fatalf("only %d valid numbers among the cases: the test would not notice a fast path that refuses too much", n)
	}
	for _, in := range []string{"+70123456789", "+7900123456", "+790012345678", "+7 9001234567", "79001234567", "+8900123456"} {
		if isCanonicalForm(in) {
			t.Errorf("%q taken for canonical", in)
		}
	}
}

// TestPaidByCaller: premium-rate and shared-cost numbers, whose calls the
// caller pays extra for, are told apart from every other callable kind; a
// number not in canonical form is reported paid (fail closed).
func TestPaidByCaller(t *testing.T) {
	tests := []struct {
		e164 string
		paid bool
	}{
		{"+78095553535", true},  // premium rate
		{"+78031234567", true},  // premium rate
		{"+79001234567", false}, // mobile
		{"+74951234567", false}, // fixed line
		{"+78005553535", false}, // toll free: the callee pays
		{"+78081234567", false}, // personal number
		{"+77001234567", false}, // Kazakhstan mobile
		{"79095553535", true},   // no +
		{"+7809555353", true},   // too short
		{"+7 809 555-35-35", true},
		{"", true},
	}
	for _, tt := range tests {
		if got := PaidByCaller(tt.e164); got != tt.paid {
			t.Errorf("PaidByCaller(%q) = %v, want %v", tt.e164, got, tt.paid)
		}
	}
	// What Parse accepts reaches it in canonical form.
	n, err := Parse("8 (809) 555-35-35")
	if err != nil || !PaidByCaller(n.E164()) {
		t.Errorf("Parse(8 (809) 555-35-35) = %v, %v: want a number PaidByCaller reports", n.E164(), err)
	}
}
