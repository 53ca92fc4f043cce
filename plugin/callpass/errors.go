package callpass

import (
	"errors"
	"html"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// Error is every error StartCall and CallStatus return. Unwrap returns
// exactly one flashcall.Err* sentinel, so callers use errors.Is without
// knowing this vendor.
type Error struct {
	// Kind is one of the flashcall.Err* sentinels.
	Kind error
	// Op is "start" or "status".
	Op string
	// Message is the provider's own error text (sanitised, see
	// secrets.text), or a short description of the transport failure.
	Message string
	// HTTPStatus, ContentType and Excerpt describe what came back, when
	// something did. Excerpt is at most 120 bytes of valid UTF-8 without
	// control characters, with long digit groups masked, and, in the
	// errors of StartCall and CallStatus, the token and the destination
	// (see secrets.text).
	HTTPStatus  int
	ContentType string
	Excerpt     string
	// Sent reports that the request may have reached the provider: for a
	// start this means a paid call may have been placed, so it must not be
	// repeated blindly.
	Sent bool
	// RetryAfter is how long the provider asked us to wait (Retry-After
	// on a 429 or 5xx answer, at most maxStatusHold), or, for a status
	// request held back, how long is left; 0 when not said.
	RetryAfter time.Duration

	// level is the envelope level that refused the request: levelRequest
	// (status "error", or a level-1 message standing for the answer: the
	// method did not run), levelMethod (data.result "error": the method ran
	// and failed), or 0 (no API answer: transport, HTML, broken JSON).
	level int
	// refusedAhead: a 401 or 403 whose body is not the API's envelope (an
	// HTML page, an empty body): the IP allow-list or the token refused in
	// front of the API, which never saw the request.
	refusedAhead bool
}

// Envelope levels of an Error (Error.level).
const (
	levelRequest = 1
	levelMethod  = 2
)

// Error is one line that names the operation, the kind and what came back.
// It never contains the token, the destination number or the code.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("callpass")
	if e.Op != "" {
		b.WriteString(" ")
		b.WriteString(e.Op)
	}
	b.WriteString(": ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("error")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.HTTPStatus != 0 || e.ContentType != "" || e.Excerpt != "" {
		b.WriteString(" (")
		sep := ""
		if e.HTTPStatus != 0 {
			b.WriteString("HTTP ")
			b.WriteString(strconv.Itoa(e.HTTPStatus))
			sep = ", "
		}
		if e.ContentType != "" {
			b.WriteString(sep)
			b.WriteString("content-type ")
			b.WriteString(strconv.Quote(e.ContentType))
			sep = ", "
		}
		if e.Excerpt != "" {
			b.WriteString(sep)
			b.WriteString("body ")
			b.WriteString(strconv.Quote(e.Excerpt))
		}
		b.WriteString(")")
	}
	if e.Sent && e.HTTPStatus == 0 {
		b.WriteString("; the request may have reached the provider")
	}
	return b.String()
}

// Unwrap returns the flashcall sentinel.
func (e *Error) Unwrap() error { return e.Kind }

// NotSent implements flashcall.NotSent.
func (e *Error) NotSent() bool { return !e.Sent }

// NotPlaced implements flashcall.NotPlaced: the request never left; or the
// API refused it at level 1 (the method did not run) below HTTP 500, or a
// 401/403 page refused it in front of the API (refusedAhead); or the
// method itself refused it for a reason that precedes any call (credentials,
// balance, the destination, the request). A level-2 failure without such a
// reason ("result":"error" alone, "call failed") may follow a call that rang,
// above all on a synchronous start, and a 5xx may come from a server that
// failed after placing the call: neither is NotPlaced (a 5xx's bare refusal
// of the token excepted).
func (e *Error) NotPlaced() bool {
	switch {
	case !e.Sent, e.refusedAhead:
		return true
	case e.HTTPStatus >= 500:
		// Except a bare refusal of the token, the only answer a 5xx is typed
		// unauthorized for (see kindFor): a refused token placed no call.
		return e.level != 0 && errors.Is(e.Kind, flashcall.ErrUnauthorized)
	case e.level == levelRequest:
		return true
	case e.level == levelMethod:
		return errors.Is(e.Kind, flashcall.ErrUnauthorized) || errors.Is(e.Kind, flashcall.ErrInsufficientBalance) ||
			errors.Is(e.Kind, flashcall.ErrDestinationNotAllowed) || errors.Is(e.Kind, flashcall.ErrInvalidRequest)
	}
	return false
}

// Outcome labels passed to Observer.ObserveProviderCall.
const (
	OutcomeOK                    = "ok"
	OutcomeUnauthorized          = "unauthorized"
	OutcomeInsufficientBalance   = "insufficient_balance"
	OutcomeDestinationNotAllowed = "destination_not_allowed"
	OutcomeNotFound              = "not_found"
	OutcomeInvalidRequest        = "invalid_request"
	OutcomeUnavailable           = "unavailable"
	OutcomeBadResponse           = "bad_response"
	// OutcomeNotDelivered is never a request's outcome (the answer that
	// says so was read: OutcomeOK); it labels StartCall's log line only.
	OutcomeNotDelivered = "not_delivered"
)

// Outcome maps an error from this package (or nil) to its metric label.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, flashcall.ErrUnauthorized):
		return OutcomeUnauthorized
	case errors.Is(err, flashcall.ErrInsufficientBalance):
		return OutcomeInsufficientBalance
	case errors.Is(err, flashcall.ErrDestinationNotAllowed):
		return OutcomeDestinationNotAllowed
	case errors.Is(err, flashcall.ErrCallNotFound):
		return OutcomeNotFound
	case errors.Is(err, flashcall.ErrInvalidRequest):
		return OutcomeInvalidRequest
	case errors.Is(err, flashcall.ErrBadResponse):
		return OutcomeBadResponse
	case errors.Is(err, flashcall.ErrNotDelivered):
		return OutcomeNotDelivered
	default:
		return OutcomeUnavailable
	}
}

const (
	maxExcerpt = 120
	maxMessage = 200
	// maskedRun is the fewest digits of a group (see clean) masked in text
	// from a response body: codes are 4 or more digits (minCode); HTTP
	// statuses are 3.
	maskedRun = minCode
	// headerMaskedRun is the same for a header, which carries no code but
	// may carry a version ("windows-1251").
	headerMaskedRun = 5
)

// sanitize returns valid UTF-8 of at most limit bytes with control and
// invisible characters removed, whitespace runs collapsed and groups of 4
// digits or more masked, a group being digits joined only by separators
// such as "+7 (900) 123-45-67" uses (and of 10 or more, digits joined by
// anything but letters: "7:900:123:45:67"), digits of any script and digit
// form ("⁹", "⑨") counted: a body or message echoing a destination number,
// a caller ID or the code itself must not end up in a log line.
func sanitize(s string, limit int) string { return clean(s, limit, maskedRun) }

// sanitizeHeader is sanitize for a response header such as Content-Type.
func sanitizeHeader(s string) string { return clean(s, maxHeaderText, headerMaskedRun) }

// maxHeaderText bounds a response header quoted in an error.
const maxHeaderText = 80

// secrets is what the provider text an error carries (message, status,
// body excerpt, Content-Type) is masked for beyond clean's digit groups:
// the token (a JSON escape hides it from redactToken on the raw bytes) and
// the destination's national number, "" when not known. A provider may
// quote the number with letters between its digits ("no call to
// 7a900a123a45a67"), which no digit group catches. The zero value masks
// neither: DecodeResponse, which knows neither.
type secrets struct{ token, national string }

// text is clean(s, limit, run) with the token and the destination masked
// first, on the whole text (as maskSecrets finds them) read as a reader
// reads it (readable): a cut made before could leave part of the number in
// the shown text, or split it so that neither part is found.
func (m secrets) text(s string, limit, run int) string {
	if s == "" {
		return ""
	}
	// Escapes are read even with no secret to look for: "&#48;&#52;&#52;&#54;"
	// is a code to whoever reads the excerpt, and digit masking must see it.
	s = readable(redactTokenString(s, m.token))
	if m.token != "" || m.national != "" {
		s = maskSecrets(s, m.token, m.national)
	}
	return shown(clean(s, limit, run), m.token, m.national)
}

// shown is the last step of every provider text shown (an error's text, a
// status, a masked call id), on the text as it is cut: what masked or
// dropped before may have made new secrets or references of what was
// left. clean's digit groups and hex runs, once masked, no longer part the
// digits around them, which may then join into the number ("900" +
// "00000" + "1234567" reads "900#####1234567"); so the secrets are masked
// again. And a reference or escape left (a mask '#' just after '&' reads
// "&#48;", clean dropping "\u200b" from "&\u200b#48;" joins one, text
// nesting encodings deeper than readable reads) is made inert: its '&' or
// '\\' becomes '#', so nothing a reader or a page rendering the text
// decodes is left in it.
func shown(s, token, national string) string {
	if token != "" || national != "" {
		s = maskSecrets(s, token, national)
	}
	return inert(s)
}

// inert replaces with '#' the '&' or '\\' of every HTML character
// reference (named or numeric, as html.UnescapeString or referenceAt read
// it) and JSON escape in s. A '#' so put in makes no new one: what follows
// it is '#', 'u' or a letter, never a digit after "&#".
func inert(s string) string {
	if !strings.Contains(s, "&") && !strings.Contains(s, `\u`) {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '&' && c != '\\' {
			continue
		}
		if _, n := referenceAt(s[i:]); n == 0 && namedAt(s[i:]) == 0 {
			continue
		}
		if b == nil {
			b = []byte(s)
		}
		b[i] = '#'
	}
	if b == nil {
		return s
	}
	return string(b)
}

// maxNamedReference bounds what namedAt reads of a name: HTML's longest
// is 32 letters, and a longer run is read by its prefix only.
const maxNamedReference = 40

// namedAt returns the length of the HTML named character reference s
// starts with ("&amp;", "&nbsp;", "&sup2;", "&amp" and "&AMP" without
// ';' as browsers read them), as html.UnescapeString reads it, or 0.
func namedAt(s string) int {
	if len(s) < 2 || s[0] != '&' {
		return 0
	}
	j := 1
	for j < len(s) && j <= maxNamedReference && isASCIIAlnum(s[j]) {
		j++
	}
	if j == 1 {
		return 0
	}
	if j < len(s) && s[j] == ';' {
		j++
	}
	if html.UnescapeString(s[:j]) == s[:j] {
		return 0
	}
	return j
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// readable replaces each JSON escape \uXXXX (a surrogate pair as the one
// rune it encodes, a lone surrogate as U+FFFD) and each HTML numeric
// character reference ("&#55;", "&#x37;", the ';' optional as browsers
// read it) with its rune. Provider text may quote a raw body (an excerpt
// of an HTML page, of JSON a PHP back end escaped) or be encoded twice: an
// escape's own digits part the number's ("7\u00ad900", "7&#160;900") and
// hide it from maskSecrets, not from a reader.
func readable(s string) string {
	// Text encoded more than once ("&amp;#48;", "&#38;#48;", "\u0026#48;")
	// reads as a reference again after one pass: decode until nothing
	// changes, a few passes at most (a crafted answer cannot make it cost
	// more than that).
	for range maxReadablePasses {
		t := readableOnce(s)
		if t == s {
			return s
		}
		s = t
	}
	if readableOnce(s) == s {
		return s
	}
	// Nested deeper than maxReadablePasses, which no encoder writes: what
	// is left would still read as digits ("&amp;#48;" after four passes
	// of "&amp;amp;amp;amp;amp;#48;"), and its references' own digits part
	// the number's ("7&amp;#160;900") from maskSecrets. Every letter and
	// digit is masked instead, as maskSecrets does past its passes.
	out := []rune(s)
	for i, r := range out {
		if tokenKeys(r) != "" || isDigitRune(r) {
			out[i] = '#'
		}
	}
	return string(out)
}

// maxReadablePasses bounds readable's passes.
const maxReadablePasses = 4

// readableOnce is one pass of readable, with HTML named references read
// too ("&amp;", which an encoded-twice numeric one starts with, "&amp"
// without ';' as browsers read it, "&num;", "&sup2;", "&nbsp;"), as
// html.UnescapeString reads them.
func readableOnce(s string) string {
	if !strings.Contains(s, `\u`) && !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if r, n := referenceAt(s[i:]); n > 0 {
			b.WriteRune(r)
			i += n
			continue
		}
		if n := namedAt(s[i:]); n > 0 {
			b.WriteString(html.UnescapeString(s[i : i+n]))
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// referenceAt decodes the JSON escape or HTML numeric character reference
// s starts with (see readable) and returns its rune and length, or n = 0.
func referenceAt(s string) (r rune, n int) {
	switch {
	case len(s) >= 6 && s[0] == '\\' && s[1] == 'u':
		hi, ok := hex4(s[2:6])
		if !ok {
			return 0, 0
		}
		if !utf16.IsSurrogate(hi) {
			return hi, 6
		}
		if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if lo, ok := hex4(s[8:12]); ok {
				if r := utf16.DecodeRune(hi, lo); r != utf8.RuneError {
					return r, 12
				}
			}
		}
		return utf8.RuneError, 6
	case len(s) >= 3 && s[0] == '&' && s[1] == '#':
		base, i := 10, 2
		if s[2] == 'x' || s[2] == 'X' {
			base, i = 16, 3
		}
		v, start := 0, i
		for ; i < len(s); i++ {
			d := digitValue(s[i], base)
			if d < 0 {
				break
			}
			v = min(v*base+d, utf8.MaxRune+1)
		}
		if i == start {
			return 0, 0
		}
		if i < len(s) && s[i] == ';' {
			i++
		}
		if r = rune(v); r == 0 || !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		return r, i
	}
	return 0, 0
}

// hex4 reads 4 hex digits.
func hex4(s string) (rune, bool) {
	var v rune
	for i := 0; i < 4; i++ {
		d := digitValue(s[i], 16)
		if d < 0 {
			return 0, false
		}
		v = v<<4 | rune(d)
	}
	return v, true
}

// digitValue is the value of the ASCII digit c in base 10 or 16, or -1.
func digitValue(c byte, base int) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case base == 16 && c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case base == 16 && c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// header is text for a response header (see sanitizeHeader).
func (m secrets) header(s string) string { return m.text(s, maxHeaderText, headerMaskedRun) }

// clean is sanitize with digit groups of maskRun digits or more masked.
func clean(s string, limit, maskRun int) string {
	out := make([]rune, 0, min(len(s), limit+cleanMargin+1))
	pendingSpace := false
	invalid := false // the byte before was invalid UTF-8
	for i := 0; i < len(s); {
		// Runes never outnumber bytes, so past limit+cleanMargin runes
		// nothing more can survive truncation; the margin keeps digit
		// groups that cross the cut long enough to be masked.
		if len(out) > limit+cleanMargin {
			break
		}
		// Each run of invalid bytes reads as one U+FFFD, as
		// strings.ToValidUTF8 would make it, but only as far as read: an
		// excerpt is cut from a page of up to 64 KiB.
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			if invalid {
				continue
			}
			invalid = true
		} else {
			invalid = false
		}
		switch {
		case unicode.IsSpace(r):
			pendingSpace = len(out) > 0
			continue
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			continue
		}
		if pendingSpace {
			out = append(out, ' ')
			pendingSpace = false
		}
		out = append(out, r)
	}
	// Runs of 16 hex digits or more are masked too: a fragment of the
	// bearer token (32 or 64 hex) echoed cut short escapes the redaction of
	// the whole token, and an answer's ids (UUIDs) have runs of 12 at most.
	for i := 0; i < len(out); {
		if !isHexRune(out[i]) {
			i++
			continue
		}
		j := i
		for j < len(out) && isHexRune(out[j]) {
			j++
		}
		if j-i >= hexMaskedRun {
			for k := i; k < j; k++ {
				out[k] = '#'
			}
		}
		i = j
	}
	// Digits are masked by group, not by unbroken run: a phone number is
	// often written "+7 (900) 123-45-67" or "7.900.123.45.67", where no run
	// is longer than 3. A group is digits joined only by number separators
	// (isNumberSeparator); one of maskRun digits or more in total has every
	// digit masked, its separators kept. Anything else (a letter, ':', ',',
	// a '#' from the hex pass) ends the group, so "502", "error 40", "HTTP
	// 502, 503" and "12:30" stay readable.
	maskGroups(out, maskRun, isNumberSeparator)
	// A group joined by anything but letters ("7:900:123:45:67", "7, 900,
	// 123, 45, 67") is masked from statusMaskedRun digits, the length of a
	// national number, as a status text is: times and short lists ("at
	// 12:30, 14:45") have fewer. A text with digit masking off (maskRun
	// math.MaxInt) keeps it off.
	maskGroups(out, max(maskRun, statusMaskedRun), isLooseJoin)
	return truncateUTF8(string(out), limit)
}

// cleanMargin is how many runes clean reads past limit: enough of a group
// crossing the cut to reach its masked length, even a loose one written
// digit by digit with ", " between (statusMaskedRun-1 digits more, 3 runes
// each).
const cleanMargin = 32

// isLooseJoin reports a rune that joins the digits of a loose group (see
// clean): anything but a letter.
func isLooseJoin(r rune) bool { return !unicode.IsLetter(r) }

// maskGroups replaces with '#' every digit of a group of run digits or
// more, a group being digits joined only by runes joins accepts; the
// joining runes are kept, and so are combining marks, which join as well.
// A rune standing for several digits ("⑩") counts them all and is masked
// whole.
func maskGroups(out []rune, run int, joins func(rune) bool) {
	for i := 0; i < len(out); {
		if !isDigitRune(out[i]) {
			i++
			continue
		}
		digits, end := 0, i // end: just past the group's last digit
		for j := i; j < len(out); j++ {
			if n := len(runeDigits(out[j])); n > 0 {
				digits += n
				end = j + 1
			} else if !joins(out[j]) && !unicode.Is(unicode.M, out[j]) {
				// A combining mark belongs to the rune before it: a
				// keycap "7\uFE0F\u20E3", a stroke "7\u0336" or an accent
				// leaves the digit a digit.
				break
			}
		}
		if digits >= run {
			for k := i; k < end; k++ {
				if isDigitRune(out[k]) {
					out[k] = '#'
				}
			}
		}
		i = end
	}
}

// isDigitRune reports a rune that stands for decimal digits (runeDigits).
func isDigitRune(r rune) bool {
	return r >= '0' && r <= '9' || r >= 0x80 && runeDigits(r) != ""
}

// runeDigits returns the decimal digits r stands for, in ASCII, or "": an
// ASCII digit; another script's decimal digit (fullwidth "９００" reads as
// a number just the same); or a digit form that Unicode files as a number
// but not as a digit, which unicode.IsDigit does not report: superscript
// and subscript "⁹", "₉", circled "⑨", parenthesized "⑼", with a full stop
// "⒐" or a comma, some standing for two digits ("⑩" is "10", "⒛" "20").
// A reader reads "+7⁹⁰⁰¹²³⁴⁵⁶⁷" as the number it is. The result is a
// constant string: callers on every rune of a page allocate nothing.
func runeDigits(r rune) string {
	switch {
	case r >= '0' && r <= '9':
		return asciiDigits[r-'0' : r-'0'+1]
	case r < utf8.RuneSelf:
		return ""
	case r < 0x660 && (r < 0xB2 || r > 0xB9):
		// Below the Arabic-Indic digits only "²", "³" and "¹" are digits
		// (and "¼".."¾" numbers): Latin, Greek and Cyrillic letters skip
		// the table lookups.
		return ""
	case unicode.IsDigit(r):
		// Decimal digits come in runs of ten from zero ("０".."９");
		// some runs follow each other (mathematical digits).
		z := r
		for unicode.IsDigit(z - 1) {
			z--
		}
		d := (r - z) % 10
		return asciiDigits[d : d+1]
	case !unicode.Is(unicode.No, r):
		// Every digit form is filed as a number (No): other runes (the
		// letters of a Cyrillic page) skip the lookups below.
		return ""
	}
	if v, ok := circledNoMapping(r); ok {
		return strconv.Itoa(v) // constant below 100
	}
	// The compatibility decomposition (NFKC's) of a digit form is its
	// digits, bracketed or followed by '.' or ',': "²" is "2", "⑴" "(1)",
	// "⒛" "20.". Forms with anything else ("½" is "1⁄2", "㏩" "10日",
	// "㎡" "m2") are no digits.
	d := norm.NFKC.PropertiesString(string(r)).Decomposition()
	if len(d) > 1 && d[0] == '(' && d[len(d)-1] == ')' {
		d = d[1 : len(d)-1]
	} else if len(d) > 1 && (d[len(d)-1] == '.' || d[len(d)-1] == ',') {
		d = d[:len(d)-1]
	}
	if len(d) == 0 || len(d) > 2 {
		return ""
	}
	v := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return ""
		}
		v = v*10 + int(c-'0')
	}
	return strconv.Itoa(v)
}

const asciiDigits = "0123456789"

// circledNoMapping returns the value of the circled digits and numbers
// that have no compatibility decomposition (NFKC leaves them as they are),
// only a numeric value in Unicode's data: the dingbats "❶".."❿", "➀".."➉",
// "➊".."➓" and "🄋", "🄌", the negative and double circled "⓫".."⓴",
// "⓵".."⓾", "⓿", and "㉈".."㉏" (10 to 80). Unicode never moves an
// assigned character, so the table cannot go stale;
// TestRuneDigitsMatchUnicodeNames checks it, and that nothing of these
// families is missed, against the characters' names.
func circledNoMapping(r rune) (int, bool) {
	switch {
	case r >= 0x2776 && r <= 0x2793: // three sets of 1..10
		return int(r-0x2776)%10 + 1, true
	case r >= 0x24EB && r <= 0x24F4: // 11..20
		return int(r-0x24EB) + 11, true
	case r >= 0x24F5 && r <= 0x24FE: // 1..10
		return int(r-0x24F5) + 1, true
	case r == 0x24FF, r == 0x1F10B, r == 0x1F10C:
		return 0, true
	case r >= 0x3248 && r <= 0x324F: // 10, 20, .. 80
		return int(r-0x3247) * 10, true
	}
	return 0, false
}

// isNumberSeparator reports a rune that may sit between the digits of one
// phone number. Whitespace reaches it as ' ' only (clean collapses every
// space, no-break ones included), and invisible format characters are
// already gone. '/', '_' and the middle dot join digits too
// ("+7/900/123/45/67", "+7_900_123_45_67", "7·900·123·45·67"); ',' and ':'
// do not, so lists of statuses ("502, 503") and times ("12:30") stay. A
// compatibility form of a separator joins as the separator does: fullwidth
// "（７）", superscript "⁽⁹⁰⁰⁾¹²³⁻⁴⁵", small "﹣".
func isNumberSeparator(r rune) bool {
	switch r {
	case ' ', '(', ')', '-', '.', '+', '/', '_',
		'\u00B7',                                                   // middle dot
		'\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', // hyphens and dashes
		'\u2212': // minus sign
		return true
	}
	if r < utf8.RuneSelf {
		return false
	}
	// The decomposition is full: a separator it names decomposes no more.
	d := norm.NFKC.PropertiesString(string(r)).Decomposition()
	if sep, n := utf8.DecodeRune(d); n > 0 && n == len(d) && sep != r {
		return isNumberSeparator(sep)
	}
	return false
}

// hexMaskedRun is the shortest run of hex digits masked (see clean).
const hexMaskedRun = 16

func isHexRune(r rune) bool { return r < 0x80 && isHexDigit(byte(r)) }

func truncateUTF8(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
