package callpass

import (
	"bytes"
	"crypto/rand"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// Call ids and call statuses are the provider's text, and the caller logs
// and stores them as StartCall and CallStatus return them. redactToken has
// cut the token out of the raw bytes, but a JSON escape ("\u0061...") hides
// it there, and nothing stops a provider or a proxy from putting the
// destination number in either field. So what is returned for display is
// made safe here, after decoding, while the status request still sends the
// exact id.
//
// The rules:
//   - A call id is shown as it came when it is plain (plainCallID), holds
//     no piece of the token (carriesToken: hexMaskedRun hex digits of it,
//     in any digit or letter form, separators ignored) and, unless it is a UUID, not the destination's
//     national number (carriesNumber: its 10 national digits among the
//     id's digits, of any script or digit form, anything else ignored, so
//     "7-900-123-45-67", "id:79001234567", "a7900b1234567" and
//     "⁷⁹⁰⁰¹²³⁴⁵⁶⁷" count). Other digits, however
//     many ("1790123456789012345", "call-20240521-000123"), are shown:
//     operators quote these ids to CallPass support. A UUID is checked for
//     the token only: about 2 in 100 random UUIDs hold 10 digits in a row.
//   - Any other id is returned as a reference (see callRefs) whose shown
//     part has the token and the destination's digits masked (JSON
//     escapes and HTML numeric character references first read as their
//     runes, see readable, as in the two rules below), control
//     characters dropped and runs of hexMaskedRun hex digits masked, all
//     on the whole id, then cut to maxShownID bytes.
//   - A status text Classify does not know is returned with the token and
//     the destination's digits masked (in StartCall's answer, and in
//     CallStatus's, whose caller passes the number StartCall called),
//     cleaned as provider text is (digit groups of 4 or more masked, digit
//     groups joined by other punctuation masked from statusMaskedRun
//     digits), all on the whole text, then cut to maxStatusText bytes.
//   - The provider text an error of either carries (message, status,
//     excerpt, Content-Type) has the token and the destination's digits
//     masked the same way, on the whole text, before it is cleaned and
//     cut (see secrets); other digits keep clean's masking only. An
//     escape's own digits ("7\u00ad900", "7&#160;900" in an excerpt of
//     the raw body) would part the number's, so masking reads the text
//     decoded (readable) and shows it so.

// statusMaskedRun is the fewest digits of a group, joined by anything but
// letters ("7:900:123:45:67"), masked in a status text Classify does not
// know and in the provider text an error quotes (see clean). Statuses are
// words, and an error's excerpt is read for its words: masking any long
// group there hides nothing an operator needs. It keeps out numbers other
// than the destination, and the destination itself when a caller of
// CallStatus does not pass it.
const statusMaskedRun = 10

// maxStatusText bounds the shown form of a status Classify does not know.
const maxStatusText = 64

// maxShownID bounds the shown part of a reference.
const maxShownID = 96

// nationalLen is how many trailing digits of the destination make its
// national number (Russia and Kazakhstan, country code 7).
const nationalLen = 10

// nationalDigits returns the national number of the destination dn (its
// last nationalLen digits), or "" when dn is unknown or too short.
func nationalDigits(dn string) string {
	if len(dn) < nationalLen || !phone.AllDigits(dn) {
		return ""
	}
	return dn[len(dn)-nationalLen:]
}

// plainCallID reports an id of the shape the document shows (a UUID) or
// any plain identifier a server may mint instead: a letter or digit, then
// letters, digits, '-', '_', '.' or ':', at most 128 in all.
func plainCallID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c == '-' || c == '_' || c == '.' || c == ':'):
		default:
			return false
		}
	}
	return true
}

// shownVerbatim reports whether a call id may be returned, logged and
// stored as received (see the rules above). national is the destination's
// national number, "" when not known.
func (c *Client) shownVerbatim(id, national string) bool {
	if carriesToken(id, c.token) {
		return false
	}
	if isUUID(id) {
		return true
	}
	return plainCallID(id) && !carriesNumber(id, national)
}

// isUUID reports the canonical 8-4-4-4-12 hex form, in either case.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

// tokenKey is the key of tokenSpans: ASCII letters and digits, lower-cased;
// everything else is a separator, ignored.
func tokenKey(r rune) byte {
	switch {
	case r >= '0' && r <= '9', r >= 'a' && r <= 'z':
		return byte(r)
	case r >= 'A' && r <= 'Z':
		return byte(r) + 'a' - 'A'
	}
	return 0
}

// tokenKeys is tokenKey as the keys of a rune (see keying), read as a
// reader reads it: a digit of any script or digit form ("１", "¹") is its
// ASCII digits (runeDigits), as for the destination; a compatibility form
// of an ASCII letter or digit (fullwidth "ａ", mathematical "𝐚", circled
// "ⓐ") is that character.
func tokenKeys(r rune) string {
	if k := tokenKey(r); k != 0 {
		return asciiKeys[k : k+1]
	}
	if r < utf8.RuneSelf {
		return ""
	}
	if d := runeDigits(r); d != "" {
		return d
	}
	if !mayFoldToASCII(r) {
		return ""
	}
	if d := norm.NFKC.PropertiesString(string(r)).Decomposition(); len(d) == 1 {
		if k := tokenKey(rune(d[0])); k != 0 {
			return asciiKeys[k : k+1]
		}
	}
	return ""
}

// mayFoldToASCII is false for a rune whose compatibility decomposition is
// surely not one ASCII character: below U+1D00 only "ª", "º", "ſ" and the
// modifier letters "ʰ".."ˣ" have one. It spares tokenKeys the lookup on
// every letter of a Cyrillic page (TestMayFoldToASCII checks the bound).
func mayFoldToASCII(r rune) bool {
	return r >= 0x1D00 || r == 0xAA || r == 0xBA || r == 0x17F || r >= 0x2B0 && r <= 0x2E4
}

// asciiKeys holds every ASCII byte at its own index.
var asciiKeys = func() string {
	var b [utf8.RuneSelf]byte
	for i := range b {
		b[i] = byte(i)
	}
	return string(b[:])
}()

// The keys of numberSpans are runeDigits: the decimal digits a rune
// stands for, in any script and digit form, as ASCII ("７" and "⁷" are 7,
// "⑩" is 10); everything else is ignored.

// matchSpans finds matches in the text made of the keys of s's runes
// (key returning "" skips a rune; a rune may have several) and returns,
// for each rune of s, whether a match covers it (any of its keys); any
// reports a match at all.
func matchSpans(s []rune, key func(rune) string, find func(keys []byte) [][2]int) (covered []bool, any bool) {
	keys := make([]byte, 0, len(s))
	at := make([]int32, 0, len(s)) // rune index of each key
	for i, r := range s {
		ks := key(r)
		for j := 0; j < len(ks); j++ {
			keys = append(keys, ks[j])
			at = append(at, int32(i))
		}
	}
	spans := find(keys)
	if len(spans) == 0 {
		return nil, false
	}
	covered = make([]bool, len(s))
	for _, sp := range spans {
		for j := sp[0]; j < sp[1]; j++ {
			covered[at[j]] = true
		}
	}
	return covered, true
}

// longestMatch bounds the keys a match of tokenSpans or numberSpans spans
// (hexMaskedRun; the national number and its prefix are 11).
const longestMatch = hexMaskedRun

// finds reports whether find finds a match in the keys of s's runes, as
// matchSpans does with k.key, without holding them all: they are looked up
// in chunks, each beginning with the last longestMatch-1 keys of the one
// before, so that every match lies whole in one chunk. It reads every byte
// of an error page, so ASCII takes k's table.
func finds(s string, k *keying, find func(keys []byte) [][2]int) bool {
	var buf [2048]byte
	n := 0
	add := func(key byte) bool {
		if n == len(buf) {
			if len(find(buf[:n])) > 0 {
				return true
			}
			n = copy(buf[:], buf[n-(longestMatch-1):n])
		}
		buf[n] = key
		n++
		return false
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			i++
			if key := k.ascii[c]; key != 0 && add(key) {
				return true
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:]) // as range reads it
		i += size
		keys := k.key(r)
		for j := 0; j < len(keys); j++ {
			if add(keys[j]) {
				return true
			}
		}
	}
	return len(find(buf[:n])) > 0
}

// keying is a key function, giving the keys of a rune ("" for none, one
// byte for an ASCII rune), with its keys of the ASCII runes in a table.
type keying struct {
	key   func(rune) string
	ascii [utf8.RuneSelf]byte
}

func newKeying(key func(rune) string) *keying {
	k := &keying{key: key}
	for r := range rune(utf8.RuneSelf) {
		if keys := key(r); keys != "" {
			k.ascii[r] = keys[0]
		}
	}
	return k
}

var tokenKeying, digitKeying = newKeying(tokenKeys), newKeying(runeDigits)

// tokenSpans finds the pieces of hexMaskedRun characters of token.
func tokenSpans(token string) func([]byte) [][2]int {
	tok := []byte(strings.ToLower(token))
	// A hex token (what the provider issues) has its pieces only among
	// hexMaskedRun hex keys in a row: other windows are not looked up,
	// which keeps an error's excerpt of a long page cheap to mask.
	hexOnly := isHex(token)
	return func(keys []byte) [][2]int {
		if len(tok) == 0 {
			return nil
		}
		var out [][2]int
		run := 0 // hex keys in a row up to i
		for i := 0; i < len(keys); i++ {
			if run++; hexOnly && !isHexDigit(keys[i]) {
				run = 0
			}
			if start := i + 1 - hexMaskedRun; run >= hexMaskedRun && bytes.Contains(tok, keys[start:i+1]) {
				out = append(out, [2]int{start, i + 1})
			}
		}
		return out
	}
}

// numberSpans finds every occurrence of the national number, with the
// country code 7 or the trunk prefix 8 just before it.
func numberSpans(national string) func([]byte) [][2]int {
	nat := []byte(national)
	return func(keys []byte) [][2]int {
		if len(nat) == 0 {
			return nil
		}
		var out [][2]int
		for i := 0; ; i++ {
			j := bytes.Index(keys[i:], nat)
			if j < 0 {
				return out
			}
			i += j
			start := i
			if i > 0 && (keys[i-1] == '7' || keys[i-1] == '8') {
				start--
			}
			out = append(out, [2]int{start, i + len(nat)})
		}
	}
}

// carriesToken reports whether s holds hexMaskedRun characters of the
// token (so the token too), in any letter case, once everything but
// letters and digits is ignored, these read in any form (tokenKeys):
// "a1b2c3d4-e5f6-a7b8-..." and "ａ¹b²c３d④..." carry the token
// "a1b2c3d4e5f6a7b8...".
func carriesToken(s, token string) bool {
	return finds(s, tokenKeying, tokenSpans(token))
}

// carriesNumber reports whether the digits of s, everything else ignored,
// hold the national number.
func carriesNumber(s, national string) bool {
	return finds(s, digitKeying, numberSpans(national))
}

// maxMaskPasses bounds the passes of maskSecrets (see there).
const maxMaskPasses = 4

// maskSecrets replaces with '#' every character of s that belongs to a
// piece of the token or to the national number, as carriesToken and
// carriesNumber find them, until the result carries neither. A text
// without either (every answer, nearly every error page) is only read.
func maskSecrets(s, token, national string) string {
	tokenFind, numberFind := tokenSpans(token), numberSpans(national)
	if !finds(s, tokenKeying, tokenFind) && !finds(s, digitKeying, numberFind) {
		return s
	}
	out := []rune(s)
	// Once masked, a match no longer parts the keys around it, which may
	// then join into another ("900a123" + number + "4567"): so again,
	// until nothing is found. Each pass masks at least one character; a
	// text that nests the number (or the token) in itself deeper than
	// maxMaskPasses, which no provider writes but which would take a pass
	// per level (thousands, seconds of CPU, in a 64 KiB page), has all its
	// letters and digits masked instead.
	for pass, again := 0, true; again; pass++ {
		if pass == maxMaskPasses {
			for i, r := range out {
				if tokenKeys(r) != "" || isDigitRune(r) {
					out[i] = '#'
				}
			}
			break
		}
		again = false
		for _, m := range []struct {
			key  func(rune) string
			find func([]byte) [][2]int
		}{{tokenKeys, tokenFind}, {runeDigits, numberFind}} {
			covered, found := matchSpans(out, m.key, m.find)
			for i := range covered {
				if covered[i] {
					out[i] = '#'
				}
			}
			again = again || found
		}
	}
	return string(out)
}

// maskedCallID is the shown form of an id that shownVerbatim refuses (see
// the rules above). Everything is masked on the whole id before it is cut,
// so a number or a token crossing the cut shows nothing of itself.
func (c *Client) maskedCallID(id, national string) string {
	s := readable(string(redactToken([]byte(id), c.token)))
	s = maskSecrets(s, c.token, national)
	// clean's own digit masking is off: digits other than the
	// destination's are shown (see the rules above).
	s = shown(truncateUTF8(clean(s, len(s), math.MaxInt), maxShownID), c.token, national)
	if s == "" {
		return "unprintable"
	}
	return s
}

// shownCallID is how a call id passed to CallStatus is logged; national
// is the destination's national number as CallStatus was given it, "" when
// not. An id StartCall returned as it came passes the same check again.
func (c *Client) shownCallID(id, national string) string {
	if c.shownVerbatim(id, national) {
		return id
	}
	return c.maskedCallID(id, national)
}

// classify classifies a status as flashcall.Classify (or, for the answer
// to an asynchronous start, ClassifyAsyncStart) does. A status it knows is
// kept as received; any other is returned in a safe form (see the rules
// above); national is the destination's national number, "" when not
// known. The class is always the raw string's.
func (c *Client) classify(raw string, asyncStart bool, national string) flashcall.Status {
	st := flashcall.Classify(raw)
	if asyncStart {
		st = flashcall.ClassifyAsyncStart(raw)
	}
	if st.Unrecognised {
		s := readable(string(redactToken([]byte(raw), c.token)))
		s = maskSecrets(s, c.token, national)
		// Masked on the whole text, then cut.
		s = clean(s, len(s), maskedRun)
		if st.Raw = shown(truncateUTF8(s, maxStatusText), c.token, national); st.Raw == "" {
			st.Raw = "[unprintable]"
		}
	}
	return st
}

// Masked call ids. A call whose id is not shownVerbatim (or not even
// validCallID) was placed all the same: refusing it would lose a call the
// user is about to get. StartCall returns instead a reference, the masked
// id with a random suffix ("call-79001234567" becomes
// "call-###########~ref-qhzkwmbtra"), and CallStatus turns it back into
// the provider's exact id. A call placed without an id gets the
// placeholder "no-call-id~ref-...", kept with an empty exact id, for which
// CallStatus asks nothing. References live in this Client's memory; one it
// no longer knows is refused as an unknown call.

// Bounds of the reference table: a call is polled for minutes, and
// references are rare (documented ids are UUIDs, shown verbatim).
const (
	callRefTTL  = 2 * time.Hour
	maxCallRefs = 4096
	// maxExactCallID is the longest provider id a reference keeps (a UUID
	// is 36 bytes); a longer one is not kept, and its call not polled.
	maxExactCallID = 256
	// callRefMark precedes the random suffix of a reference.
	callRefMark = "~ref-"
	callRefLen  = 10
)

type callRefs struct {
	mu  sync.Mutex
	ids map[string]callRef
}

type callRef struct {
	id    string // the provider's exact call id
	added time.Time
}

// add records id under a new reference made of shown and a random suffix
// of letters only (no digit, no hex run), and returns the reference.
func (r *callRefs) add(shown, id string, now time.Time) string {
	var b [callRefLen]byte
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = make(map[string]callRef)
	}
	if len(r.ids) >= maxCallRefs {
		oldest, found := "", false
		var at time.Time
		for k, v := range r.ids {
			if now.Sub(v.added) > callRefTTL {
				delete(r.ids, k)
			} else if !found || v.added.Before(at) {
				oldest, at, found = k, v.added, true
			}
		}
		if len(r.ids) >= maxCallRefs {
			delete(r.ids, oldest)
		}
	}
	for {
		_, _ = rand.Read(b[:])
		for i := range b {
			b[i] = 'a' + b[i]%26
		}
		ref := shown + callRefMark + string(b[:])
		if _, taken := r.ids[ref]; !taken {
			r.ids[ref] = callRef{id: id, added: now}
			return ref
		}
	}
}

// get returns the exact id of a reference that has not expired.
func (r *callRefs) get(ref string, now time.Time) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.ids[ref]
	if !ok || now.Sub(v.added) > callRefTTL {
		delete(r.ids, ref)
		return "", false
	}
	return v.id, true
}

// isCallRef reports whether id has the shape of a reference.
func isCallRef(id string) bool {
	i := strings.LastIndex(id, callRefMark)
	if i < 0 || len(id)-i-len(callRefMark) != callRefLen {
		return false
	}
	for _, c := range id[i+len(callRefMark):] {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
