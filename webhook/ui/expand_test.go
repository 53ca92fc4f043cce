package ui

import (
	"encoding/json"
	"fmt"
	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// expandReference is expand as first written (strings.Split for plural
// forms, fmt.Sprint for other values): the faster expand must say the same.
func expandReference(lang, tmpl string, ctx map[string]any) string {
	var b strings.Builder
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
			fs := strings.Split(forms, "|")
			pick := func(i int) string {
				if i >= len(fs) {
					return fs[len(fs)-1]
				}
				return fs[i]
			}
			if n < 0 {
				n = -n
			}
			switch {
			case lang == LangRU && n%10 == 1 && n%100 != 11:
				b.WriteString(pick(0))
			case lang == LangRU && n%10 >= 2 && n%10 <= 4 && (n%100 < 12 || n%100 > 14):
				b.WriteString(pick(1))
			case lang == LangRU:
				b.WriteString(pick(2))
			case n == 1:
				b.WriteString(pick(0))
			default:
				b.WriteString(pick(1))
			}
			continue
		}
		if has {
			b.WriteString(formatArgReference(lang, name, v))
		}
	}
}

func formatArgReference(lang, name string, v any) string {
	if name == "retry_after" || strings.HasSuffix(name, "_at") {
		return formatArg(lang, name, v) // unchanged branches
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// TestExpandMatchesReference: every catalogue text, in both languages, with
// random contexts of every value type, expands as the reference does.
func TestExpandMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := func() any {
		switch r.IntN(7) {
		case 0:
			return r.IntN(3000) - 1000
		case 1:
			return float64(r.IntN(200))
		case 2:
			return json.Number(fmt.Sprint(r.IntN(200)))
		case 3:
			return fmt.Sprint(r.IntN(30))
		case 4:
			return r.IntN(2) == 1
		case 5:
			return nil
		default:
			return r.Int()
		}
	}
	extra := []string{"{n#a|b|c}", "{n#one}", "{n#}", "{n#a||c}", "x {n} y {m#p|q} {", "no placeholder", "{unterminated"}
	var n int
	for _, lang := range []string{LangEN, LangRU} {
		var tmpls []string
		for _, s := range catalogue[lang] {
			tmpls = append(tmpls, s)
		}
		tmpls = append(tmpls, extra...)
		for _, tmpl := range tmpls {
			for range 50 {
				ctx := map[string]any{}
				for _, k := range []string{"n", "m", "attempts_left", "code_length", "phone_masked", "retry_after", "limit", "count"} {
					if r.IntN(3) > 0 {
						ctx[k] = values()
					}
				}
				got, want := expand(lang, tmpl, ctx), expandReference(lang, tmpl, ctx)
				if got != want {
					t.Fatalf("expand(%s, %q, %v) = %q, reference %q", lang, tmpl, ctx, got, want)
				}
				n++
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d cases", n)
	}
}

// parseAcceptLanguageReference is ParseAcceptLanguage as first written
// (split, then a stable sort by q).
func parseAcceptLanguageReference(header string) (string, bool) {
	type cand struct {
		lang string
		q    float64
	}
	var cands []cand
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		tag := strings.TrimSpace(fields[0])
		if tag == "" {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			p = strings.TrimSpace(p)
			if v, found := strings.CutPrefix(strings.ToLower(p), "q="); found {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		if q <= 0 {
			continue
		}
		l, good := supportedReference(tag)
		if tag == "*" {
			l, good = DefaultLang, true
		}
		if !good {
			continue
		}
		cands = append(cands, cand{l, q})
	}
	if len(cands) == 0 {
		return "", false
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].q > cands[b].q })
	return cands[0].lang, true
}

// TestParseAcceptLanguageMatchesReference: random headers built from real
// and hostile pieces pick the same language as the reference.
func TestParseAcceptLanguageMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tags := []string{"ru", "RU-ru", "en", "en_GB", "EN", "eN-us", "de", "*", "", " ", "fr-CA", "zh-Hant-TW", "ru;", "x",
		"ЕN", "ru\u0130", "\u0130n", "-ru", "_en", "ru-", "Ru_RU"}
	params := []string{"", ";q=0.9", ";q=1", ";Q=0.5", ";q=0", ";q=abc", ";q=NaN", ";q=1.5", ";q=-1", "; q=0.8 ", ";level=1;q=0.3", ";q=0.5;q=0.7", ";"}
	seps := []string{",", ", ", " ,", ",,"}
	for i := range 20000 {
		var b strings.Builder
		for j := range r.IntN(5) {
			if j > 0 {
				b.WriteString(seps[r.IntN(len(seps))])
			}
			b.WriteString(tags[r.IntN(len(tags))])
			b.WriteString(params[r.IntN(len(params))])
		}
		h := b.String()
		gl, gok := ParseAcceptLanguage(h)
		wl, wok := parseAcceptLanguageReference(h)
		if gl != wl || gok != wok {
			t.Fatalf("case %d: ParseAcceptLanguage(%q) = %q, %v; reference %q, %v", i, h, gl, gok, wl, wok)
		}
	}
}

// supportedReference is supported as first written (ToLower, then compare).
func supportedReference(lang string) (string, bool) {
	l := strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(l, "-_"); i > 0 {
		l = l[:i]
	}
	switch l {
	case LangEN, LangRU:
		return l, true
	}
	return "", false
}

func TestParseAcceptLanguageAllocs(t *testing.T) {
	h := "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"
	if n := allocs.Min(100, func() { ParseAcceptLanguage(h) }); n != 0 {
		t.Errorf("ParseAcceptLanguage(%q): %v allocations, want 0", h, n)
	}
}

// TestWaitMessagesWithoutATime: a waiting message whose time is not known
// (a /2fa link whose retry_at was forged past the cap, or cut off) says
// "later" in both languages instead of leaving "in ." with no time.
func TestWaitMessagesWithoutATime(t *testing.T) {
	tests := []struct {
		id  int
		ctx map[string]any
	}{
		{MsgRateLimited, map[string]any{}},
		{MsgRateLimited, map[string]any{"limit": "global"}},
		{MsgBlocked, map[string]any{}},
		{MsgCooldown, map[string]any{}},
		{MsgCooldown, map[string]any{"limit": "resends"}},
	}
	for _, lang := range []string{"en", "ru"} {
		for _, tt := range tests {
			got := Localize(lang, tt.id, tt.ctx)
			if got == "" || strings.Contains(got, " .") || strings.Contains(got, " ;") || strings.Contains(got, " ,") ||
				strings.Contains(got, "{") || strings.HasSuffix(got, " in.") || strings.HasSuffix(got, "через.") {
				t.Errorf("%s %d %v without a time: %q", lang, tt.id, tt.ctx, got)
			}
			if tt.ctx["limit"] == "resends" && !strings.Contains(got, map[string]string{"en": "code from the last call", "ru": "код из последнего звонка"}[lang]) {
				t.Errorf("%s resends variant lost its wording: %q", lang, got)
			}
			ctx := map[string]any{"retry_after": 120}
			for k, v := range tt.ctx {
				ctx[k] = v
			}
			if with := Localize(lang, tt.id, ctx); with == got || !strings.Contains(with, "2") {
				t.Errorf("%s %d with retry_after 120: %q, want the time shown", lang, tt.id, with)
			}
		}
	}
}
