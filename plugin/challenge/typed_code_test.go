package challenge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// TestVerifyCodeWrittenAsANumber: a code written with the separators of a
// phone number ("46 10"), or the whole calling number as the user pasted
// it ("+7 (495) 123-46-10"), is read as the code step reads it (code.js,
// /2fa, examples/ui): its digits, of a number the last code-length ones.
// The hook passes callpass_code on as the UI sent it, and a pasted number
// whose last digits were the right code was a format error costing an
// attempt. Such a number with wrong last digits is a wrong code (an
// attempt, not a format error); other text and plain digits are as before.
func TestVerifyCodeWrittenAsANumber(t *testing.T) {
	tests := []struct {
		name   string
		typed  func(code string) string
		ok     bool
		format bool // for a refusal: counted as a format error
	}{
		{"code with a space", func(c string) string { return c[:2] + " " + c[2:] }, true, false},
		{"calling number with punctuation", func(c string) string { return "+7 (495) 123-" + c[:2] + "-" + c[2:] }, true, false},
		{"calling number, no-break spaces", func(c string) string { return "+7\u00a0495\u00a0123-" + c[:2] + "-" + c[2:] }, true, false},
		{"calling number in dots", func(c string) string { return "8.495.123." + c[:2] + "." + c[2:] }, true, false},
		{"calling number, wrong last digits", func(c string) string { return "+7 (495) 123-" + c[:2] + "-" + wrongPair(c[2:]) }, false, false},
		{"calling number, plain digits", func(c string) string { return "7495123" + c }, true, false},
		{"calling number, plain digits, wrong last digits", func(c string) string { return "7495123" + c[:2] + wrongPair(c[2:]) }, false, false},
		{"five plain digits", func(c string) string { return "1" + c }, false, true},
		{"16 digits, no number", func(c string) string { return "749512345678" + c }, false, true},
		{"number with a letter", func(c string) string { return "+7 (495) 123-" + c[:2] + "-" + c[2:] + "x" }, false, true},
		// Digits of other forms, as an IME or another script's keyboard
		// types them (code.js folds them too; a form without JavaScript or
		// an API client may post them as typed).
		{"fullwidth code", func(c string) string { return otherDigits(c, '\uff10') }, true, false},
		{"Arabic-Indic code", func(c string) string { return otherDigits(c, '\u0660') }, true, false},
		{"Persian code", func(c string) string { return otherDigits(c, '\u06f0') }, true, false},
		{"fullwidth calling number", func(c string) string { return otherDigits("+7 (495) 123-"+c[:2]+"-"+c[2:], '\uff10') }, true, false},
		{"fullwidth wrong code", func(c string) string { return otherDigits(wrongPair(c[:2])+c[2:], '\uff10') }, false, false},
		{"Devanagari digits stay text", func(c string) string { return otherDigits(c, '\u0966') }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, nil)
			r := req("flow-typed")
			c := e.start(t, r).Challenge
			code := e.prov.lastCode()
			res, err := e.svc.Verify(ctx, bind(r), "", tt.typed(code))
			if tt.ok {
				if err != nil || res.Challenge.State != challenge.StateVerified || res.Challenge.ID != c.ID {
					t.Fatalf("Verify(%q) for code %s: %v, state %q", tt.typed(code), code, err, res.Challenge.State)
				}
				return
			}
			var wrong *challenge.WrongCodeError
			if !errors.As(err, &wrong) || wrong.AttemptsLeft != 2 || wrong.Format != tt.format {
				t.Fatalf("Verify(%q) for code %s: %v, want a counted wrong code (format %v) with 2 attempts left", tt.typed(code), code, err, tt.format)
			}
		})
	}

	// Separators and no digit: no code typed, a bad request that costs
	// nothing, as an empty field.
	ctx := context.Background()
	e := newEnv(t, nil)
	r := req("flow-typed")
	c := e.start(t, r).Challenge
	if _, err := e.svc.Verify(ctx, bind(r), "", "+ ( ) -"); !errors.Is(err, challenge.ErrInvalidCode) || errors.Is(err, challenge.ErrWrongCode) {
		t.Fatalf("separators only: %v, want ErrInvalidCode, not counted", err)
	}
	if st, err := e.store.Get(ctx, c.ID); err != nil || st.Attempts != 0 {
		t.Fatalf("separators only counted: %d attempts, %v", st.Attempts, err)
	}
}

// wrongPair is two digits other than s.
func wrongPair(s string) string {
	if s == "00" {
		return "11"
	}
	return "00"
}

// otherDigits writes s's ASCII digits as the digits of the form whose zero
// is zero.
func otherDigits(s string, zero rune) string {
	out := []rune(s)
	for i, r := range out {
		if r >= '0' && r <= '9' {
			out[i] = zero + (r - '0')
		}
	}
	return string(out)
}
