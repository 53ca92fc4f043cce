// Package phone turns what a user typed into one canonical phone number
// (E.164, country code 7 only) and masks it for logs and pages, so no other
// package has to know how Russians spell their numbers.
package phone

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// MaxInputLen bounds the raw input before it reaches the parser: real
// spellings are far shorter, and the parser's cost grows with its input.
const MaxInputLen = 64

// defaultRegion decides how numbers without a leading + are read
// ("8 900 …" and "900 …" are Russian national spellings).
const defaultRegion = "RU"

// ErrInvalid is wrapped by every Parse error.
var ErrInvalid = errors.New("invalid phone number")

// Error says why an input is not an acceptable number. Reason is safe to
// show to the user; the input itself is deliberately not kept, so logging
// the error never leaks what was typed.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return e.Reason }

// Unwrap lets callers test with errors.Is(err, phone.ErrInvalid).
func (e *Error) Unwrap() error { return ErrInvalid }

// User-presentable reasons. Kept as constants so tests and callers can
// compare without string literals drifting.
const (
	ReasonEmpty      = "Enter your phone number."
	ReasonTooLong    = "The phone number is too long."
	ReasonCharacters = "A phone number may contain only digits, spaces, brackets, dashes and a leading +."
	ReasonCountry    = "Only numbers with country code +7 are supported."
	ReasonInvalid    = "This is not a valid phone number. Enter it like +7 900 123-45-67."
)

// Number is a validated E.164 number with country code 7. The zero value
// means "no number".
type Number struct {
	e164 string
}

// Parse accepts the usual spellings (+7 (900) 123-45-67, 8 900 123 45 67,
// 79001234567, 9001234567) and returns the canonical number.
func Parse(input string) (Number, error) {
	if len(input) > MaxInputLen {
		return Number{}, &Error{Reason: ReasonTooLong}
	}
	s := strings.TrimSpace(foldSpelling(input))
	if s == "" {
		return Number{}, &Error{Reason: ReasonEmpty}
	}
	if err := checkCharacters(s); err != nil {
		return Number{}, err
	}
	if isCanonicalForm(s) {
		return parseCanonical(s)
	}
	return parseWithLibrary(s)
}

// parseWithLibrary is the general path: libphonenumber normalises any
// spelling, then the number must be a valid one with country code 7.
func parseWithLibrary(s string) (Number, error) {
	num, err := phonenumbers.Parse(s, defaultRegion)
	if err != nil {
		if errors.Is(err, phonenumbers.ErrInvalidCountryCode) {
			return Number{}, &Error{Reason: ReasonCountry}
		}
		return Number{}, &Error{Reason: ReasonInvalid}
	}
	if num.GetCountryCode() != 7 {
		return Number{}, &Error{Reason: ReasonCountry}
	}
	if num.GetExtension() != "" || !phonenumbers.IsValidNumber(num) {
		return Number{}, &Error{Reason: ReasonInvalid}
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	// Country code 7 numbers are always 10 national digits; anything else
	// would break Digits() and Masked(), so refuse it rather than guess.
	if len(e164) != 12 || !strings.HasPrefix(e164, "+7") || !AllDigits(e164[1:]) {
		return Number{}, &Error{Reason: ReasonInvalid}
	}
	return Number{e164: e164}, nil
}

// isCanonicalForm reports whether s is spelled "+7" and ten digits, the
// first not 0: the E.164 form Kratos traits usually hold.
func isCanonicalForm(s string) bool {
	return len(s) == 12 && s[0] == '+' && s[1] == '7' && s[2] != '0' && AllDigits(s[1:])
}

// parseCanonical skips phonenumbers.Parse (its normalising regular
// expressions cost 15-20 µs) for input already in canonical form and asks
// the library only whether the number is valid. For such input Parse yields
// country code 7 and the ten digits as the national number (stripping the
// national prefix 8 would leave nine digits, too short to be kept; a leading
// zero is excluded), so the answer is the same. TestCanonicalFastPath
// checks it against parseWithLibrary for every leading four digits and
// random numbers.
func parseCanonical(s string) (Number, error) {
	nn, err := strconv.ParseUint(s[2:], 10, 64)
	if err != nil { // unreachable for ten digits; the general path decides
		return parseWithLibrary(s)
	}
	cc := int32(7)
	if !phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}) {
		return Number{}, &Error{Reason: ReasonInvalid}
	}
	return Number{e164: s}, nil
}

// foldSpelling turns the look-alikes of the characters checkCharacters
// allows into them: fullwidth digits, plus, brackets and dot (an IME's
// input), the dashes and minus a word processor or a copied document puts
// between digit groups, narrow and other fixed-width spaces, and tabs.
// Kratos's tel format accepts these spellings, so a trait imported or typed
// that way is the same number to both; refusing it locked its owner out.
// Everything else is left for checkCharacters to refuse, and a folded
// spelling still ends in the one canonical number every limit counts.
func foldSpelling(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == '\t' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '\uff10' && r <= '\uff19':
			return '0' + (r - '\uff10')
		case r == '\u2010', r == '\u2011', r == '\u2012', r == '\u2013', r == '\u2014', r == '\u2015',
			r == '\u2212', r == '\ufe58', r == '\ufe63', r == '\uff0d':
			return '-'
		case r == '\t', r == '\u2007', r == '\u2008', r == '\u2009', r == '\u200a', r == '\u202f', r == '\u3000':
			return ' '
		case r == '\uff08':
			return '('
		case r == '\uff09':
			return ')'
		case r == '\uff0b':
			return '+'
		case r == '\uff0e':
			return '.'
		}
		return r
	}, s)
}

// checkCharacters refuses letters and other symbols up front: the parser
// would otherwise read "8-800-FLOWERS" style vanity letters as digits.
func checkCharacters(s string) error {
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '\u00a0':
		case r == '+' && i == 0:
		default:
			return &Error{Reason: ReasonCharacters}
		}
	}
	return nil
}

// PaidByCaller reports whether calling e164 costs the caller more than an
// ordinary call, with the number's holder possibly sharing in it:
// premium-rate and shared-cost numbers (Russia's 8-803 and 8-809). A flash
// call to one is toll fraud's payout (register such a number, have the
// service call it), and no one reads a code from such a line. Input not in
// canonical form (+7 and ten digits) reports true: the caller cannot vouch
// for it. It asks libphonenumber for the number's type from its digits, not
// by parsing again.
func PaidByCaller(e164 string) bool {
	if len(e164) != 12 || !strings.HasPrefix(e164, "+7") || !AllDigits(e164[1:]) {
		return true
	}
	nn, err := strconv.ParseUint(e164[2:], 10, 64)
	if err != nil {
		return true
	}
	cc := int32(7)
	switch phonenumbers.GetNumberType(&phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}) {
	case phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST:
		return true
	}
	return false
}

// AllDigits reports whether s is non-empty and only ASCII digits (codes,
// caller IDs, dn parameters): one definition for every package.
func AllDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// E164 returns the number as "+79001234567" ("" for the zero Number).
func (n Number) E164() string { return n.e164 }

// Digits returns E.164 without the plus, the form CallPass wants in dn.
func (n Number) Digits() string { return strings.TrimPrefix(n.e164, "+") }

// IsZero reports whether n holds no number.
func (n Number) IsZero() bool { return n.e164 == "" }

// Masked hides the subscriber digits but keeps the operator code and the
// last two digits, enough for a user to recognise their number:
// "+7 900 ***-**-67". The zero Number masks to "".
func (n Number) Masked() string {
	if len(n.e164) != 12 {
		return ""
	}
	return "+7 " + n.e164[2:5] + " ***-**-" + n.e164[10:]
}

// MaskE164 masks a number already in canonical form ("+79001234567", as
// Parse produced and a store kept it) without parsing it again; anything
// else gives "".
func MaskE164(e164 string) string {
	if len(e164) != 12 || !strings.HasPrefix(e164, "+7") || !AllDigits(e164[1:]) {
		return ""
	}
	return Number{e164: e164}.Masked()
}

// String returns the masked form so that accidental %v / %s logging never
// prints the full number.
func (n Number) String() string { return n.Masked() }

// GoString covers %#v for the same reason.
func (n Number) GoString() string { return "phone.Number(" + n.Masked() + ")" }

// LogValue makes slog print the masked form.
func (n Number) LogValue() slog.Value { return slog.StringValue(n.Masked()) }
