package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Supported languages. English is the fallback for anything else.
const (
	LangEN = "en"
	LangRU = "ru"
)

// DefaultLang is used when neither the query, the cookie nor Accept-Language
// names a supported language.
const DefaultLang = LangEN

// LangCookie is the cookie that remembers an explicit ?lang= choice.
const LangCookie = "lang"

// Languages lists the supported languages in display order.
func Languages() []string { return []string{LangEN, LangRU} }

func supported(lang string) (string, bool) {
	l := strings.TrimSpace(lang)
	// "ru-RU" and "en_GB" count as their base language.
	if i := strings.IndexAny(l, "-_"); i > 0 {
		l = l[:i]
	}
	// EqualFold, not ToLower: no copy of the tag on every request.
	switch {
	case strings.EqualFold(l, LangEN):
		return LangEN, true
	case strings.EqualFold(l, LangRU):
		return LangRU, true
	}
	return "", false
}

// maxLangTag bounds a language tag a client names on purpose: RFC 5646
// §4.4.1 finds 35 characters enough for every tag in practical use, and
// anything longer is not a choice between our languages.
const maxLangTag = 35

// MatchLangTag returns the supported language that one language tag names
// (BCP 47, e.g. "ru", "en-GB"; "en_GB" too), matched as one Accept-Language
// entry is: by its primary subtag, case ignored. ok is false when tag names
// no supported language or is not shaped like a tag (subtags of 1 to 8 ASCII
// letters or digits joined by '-' or '_', a primary subtag of 2 to 8
// letters, 35 characters at most): a client's explicit choice is either one
// of ours or ignored, never half-read (no "*", q-values or lists).
func MatchLangTag(tag string) (lang string, ok bool) {
	t := strings.TrimSpace(tag)
	if len(t) == 0 || len(t) > maxLangTag {
		return "", false
	}
	n, primary := 0, true // length of the current subtag; still in the first one
	for i := 0; i <= len(t); i++ {
		if i == len(t) || t[i] == '-' || t[i] == '_' {
			if n == 0 || n > 8 || primary && n < 2 {
				return "", false
			}
			n, primary = 0, false
			continue
		}
		c := t[i] | 0x20 // ASCII lower case; digits are unchanged by it
		switch {
		case c >= 'a' && c <= 'z':
		case t[i] >= '0' && t[i] <= '9' && !primary:
		default:
			return "", false
		}
		n++
	}
	return supported(t)
}

// PickLang chooses the page language: ?lang= first (so the switch links
// work), then the lang cookie, then Accept-Language with q-values, then English.
func PickLang(r *http.Request) string {
	if l, ok := supported(r.URL.Query().Get("lang")); ok {
		return l
	}
	if c, err := r.Cookie(LangCookie); err == nil {
		if l, ok := supported(c.Value); ok {
			return l
		}
	}
	if l, ok := ParseAcceptLanguage(r.Header.Get("Accept-Language")); ok {
		return l
	}
	return DefaultLang
}

// ParseAcceptLanguage returns the supported language with the highest
// q-value in an Accept-Language header (ties keep header order). ok is false
// when the header names no supported language with q > 0.
func ParseAcceptLanguage(header string) (lang string, ok bool) {
	// One pass, no allocation (the hook reads this on every login submit):
	// the highest q wins, the earliest entry among equals.
	best := 0.0
	for rest, more := header, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		tagPart, params, _ := strings.Cut(part, ";")
		tag := strings.TrimSpace(tagPart)
		if tag == "" {
			continue
		}
		q := 1.0
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			p = strings.TrimSpace(p)
			if v, found := strings.CutPrefix(strings.ToLower(p), "q="); found {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
					f = 0 // malformed q: ignore this entry
				}
				q = f
			}
		}
		if q <= best {
			continue // also q = 0: "not acceptable"
		}
		l, good := supported(tag)
		if tag == "*" {
			l, good = DefaultLang, true
		}
		if good {
			best, lang, ok = q, l, true
		}
	}
	return lang, ok
}

// SetLangCookie remembers an explicit language choice for a year.
func SetLangCookie(w http.ResponseWriter, lang string) {
	l, ok := supported(lang)
	if !ok {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: LangCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// LangLink is one entry of the language switcher.
type LangLink struct {
	Lang    string
	Label   string
	URL     string
	Current bool
}

// LangLinks builds switcher links for r's URL with ?lang= replaced, keeping
// every other query parameter (e.g. ?flow=). The links are plain GETs: for a
// page rendered in answer to a POST, use LangLinksFor with the page's GET URL.
func LangLinks(r *http.Request, current string) []LangLink {
	return LangLinksFor(r.URL, current)
}

// LangLinksFor builds switcher links for page (path and query of a GET
// route) with ?lang= replaced, keeping every other query parameter.
func LangLinksFor(page *url.URL, current string) []LangLink {
	var out []LangLink
	for _, l := range Languages() {
		q := url.Values{}
		for k, v := range page.Query() {
			q[k] = append([]string(nil), v...)
		}
		q.Set("lang", l)
		u := url.URL{Path: page.Path, RawQuery: q.Encode()}
		out = append(out, LangLink{Lang: l, Label: Text(l, "lang.name"), URL: u.String(), Current: l == current})
	}
	return out
}

// Text returns the catalogue string for key in lang, falling back to English
// and then to the key itself (so a missing string is visible, not blank).
func Text(lang, key string) string {
	l, ok := supported(lang)
	if !ok {
		l = DefaultLang
	}
	if s, ok := catalogue[l][key]; ok {
		return s
	}
	if s, ok := catalogue[DefaultLang][key]; ok {
		return s
	}
	return key
}

// Format returns the catalogue string for key with {placeholders} filled
// from args (see expand for the syntax).
func Format(lang, key string, args map[string]any) string {
	l, _ := supported(lang)
	if l == "" {
		l = DefaultLang
	}
	return expand(l, Text(l, key), args)
}

// HasMessage reports whether the catalogue has a text for a message id.
func HasMessage(lang string, msgID int) bool {
	l, ok := supported(lang)
	if !ok {
		return false
	}
	_, ok = catalogue[l]["msg."+strconv.Itoa(msgID)]
	return ok
}

// Localize produces the human text for a Kratos interrupt message id (see
// docs/architecture.md "Message ids") or a common Kratos UI message id, with
// its context filled in. It returns "" for an id it does not know, so callers
// can fall back to the text Kratos sent.
func Localize(lang string, msgID int, ctx map[string]any) string {
	l, ok := supported(lang)
	if !ok {
		l = DefaultLang
	}
	if t, ok := kratosFreeText(l, msgID, ctx); ok {
		return t
	}
	key := "msg." + strconv.Itoa(msgID)
	tmpl, ok := catalogue[l][key]
	if !ok {
		return ""
	}
	var vk, vv string // the variant's key parts after key
	if t, k, v, found := variant(l, key, ctx); found {
		tmpl, vk, vv = t, k, v
	}
	if _, has := ctx["retry_after"]; !has && strings.Contains(tmpl, "{retry_after}") {
		// No time to show: "try again later", not "try again in ."
		if t, found := catalogue[l][laterKey(key, vk, vv)]; found {
			tmpl = t
		} else if t, found := catalogue[l][key+".later"]; found {
			tmpl = t
		}
	}
	return expand(l, tmpl, ctx)
}

// variantKeys are the context keys a message may be worded by, most
// specific first: "msg.<id>.<key>.<value>" (e.g. msg.4090004.limit.global,
// msg.4090007.flow.login, msg.4090001.reason.earlier_call) replaces
// "msg.<id>" when the catalogue has it;
// so does "msg.<id>.attempts_left" when the context counts the tries left.
var variantKeys = [...]string{"limit", "reason", "flow"}

// variant returns the text of the variant ctx selects and the parts of its
// key after key: k and v for "msg.<id>.<k>.<v>", k alone for
// "msg.<id>.attempts_left". (Only a message without a time needs the key
// itself, so it is not built here: a refusal is rendered on every wrong code.)
func variant(lang, key string, ctx map[string]any) (tmpl, k, v string, found bool) {
	for _, k := range variantKeys {
		if v, ok := ctx[k].(string); ok && v != "" {
			if t, found := catalogue[lang][key+"."+k+"."+v]; found {
				return t, k, v, true
			}
		}
	}
	// A count that exists: "…, 2 attempts left" (4090011, a try that counted).
	if n, ok := toInt(ctx["attempts_left"]); ok && n >= 0 {
		if t, found := catalogue[lang][key+".attempts_left"]; found {
			return t, "attempts_left", "", true
		}
	}
	return "", "", "", false
}

// laterKey is the key of the time-less wording of key's variant (k, v as
// variant returns them).
func laterKey(key, k, v string) string {
	switch {
	case k == "":
		return key + ".later"
	case v == "":
		return key + "." + k + ".later"
	}
	return key + "." + k + "." + v + ".later"
}

// expand fills "{name}" with the value of ctx[name] and "{name#a|b|c}" with
// the plural form for that number (English: one|other; Russian:
// one|few|many). Known keys get human formatting: retry_after (seconds) is a
// duration, *_at times are clock times. Missing phone_masked / code_length get
// neutral defaults so a partial context still reads well.
func expand(lang, tmpl string, ctx map[string]any) string {
	if strings.IndexByte(tmpl, '{') < 0 {
		return tmpl
	}
	// A refusal is rendered on every wrong code: one buffer, no splitting.
	var b strings.Builder
	b.Grow(len(tmpl) + 16)
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		spec := tmpl[i+1 : i+j]
		tmpl = tmpl[i+j+1:]
		name, forms, plural := strings.Cut(spec, "#")
		v, has := ctx[name]
		if !has {
			v, has = defaultArg(lang, name)
		}
		if plural {
			n, _ := toInt(v)
			b.WriteString(pluralForm(lang, n, forms))
			continue
		}
		if has {
			b.WriteString(formatArg(lang, name, v))
		}
	}
}

func defaultArg(lang, name string) (any, bool) {
	switch name {
	case "phone_masked":
		return Text(lang, "phone.yours"), true
	case "code_length":
		return DefaultCodeLength, true
	}
	return nil, false
}

func formatArg(lang, name string, v any) string {
	switch {
	case name == "retry_after":
		if n, ok := toInt(v); ok {
			return FormatDuration(lang, time.Duration(n)*time.Second)
		}
	case strings.HasSuffix(name, "_at"):
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				return clockUTC(t)
			}
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// FormatDuration renders d as "1 min 5 s" / "1 мин 5 с" (whole seconds,
// at least 1 s so "try again in 0 s" never appears). A wait longer than
// five minutes is rounded up to whole minutes ("15 min", not "14 min 57 s"):
// the seconds only add noise there, and rounding up never tells the user to
// come back too early.
func FormatDuration(lang string, d time.Duration) string {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	if s > 5*60 {
		s = (s + 59) / 60 * 60
	}
	h, m, sec := s/3600, (s%3600)/60, s%60
	var parts []string
	if h > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", h, Text(lang, "unit.h")))
	}
	if m > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", m, Text(lang, "unit.min")))
	}
	if sec > 0 && h == 0 {
		parts = append(parts, fmt.Sprintf("%d %s", sec, Text(lang, "unit.s")))
	}
	return strings.Join(parts, " ")
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		return int(x), true
	case json.Number:
		n, err := x.Int64()
		return int(n), err == nil
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

// pluralForm picks from forms ("a|b|c") the one for n; past the last form
// given, the last one.
func pluralForm(lang string, n int, forms string) string {
	if forms == "" {
		return ""
	}
	pick := func(i int) string {
		f := forms
		for ; i > 0; i-- {
			j := strings.IndexByte(f, '|')
			if j < 0 {
				break
			}
			f = f[j+1:]
		}
		if j := strings.IndexByte(f, '|'); j >= 0 {
			f = f[:j]
		}
		return f
	}
	if n < 0 {
		n = -n
	}
	if lang == LangRU {
		switch {
		case n%10 == 1 && n%100 != 11:
			return pick(0)
		case n%10 >= 2 && n%10 <= 4 && (n%100 < 12 || n%100 > 14):
			return pick(1)
		default:
			return pick(2)
		}
	}
	if n == 1 {
		return pick(0)
	}
	return pick(1)
}
