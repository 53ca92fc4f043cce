package ui

import (
	"strings"
	"testing"
)

// TestMatchLangTag: one explicit tag (transient_payload.callpass_lang) names
// a catalogue language by its primary subtag, as an Accept-Language entry
// does; anything not shaped like a language tag names none.
func TestMatchLangTag(t *testing.T) {
	tests := []struct {
		tag  string
		want string
		ok   bool
	}{
		{"ru", "ru", true},
		{"en", "en", true},
		{"RU", "ru", true},
		{"En", "en", true},
		{"en-GB", "en", true},
		{"ru-RU", "ru", true},
		{"en_GB", "en", true}, // as supported reads an Accept-Language entry or the lang cookie
		{"ru-Cyrl-RU", "ru", true},
		{"en-US-x-twain", "en", true},
		{"en-419", "en", true},
		{" ru ", "ru", true},
		{"ru-" + strings.Repeat("a", 8), "ru", true},
		{"en-" + strings.Repeat("abcdefgh-", 3) + "abcde", "en", true}, // 35 characters
		{"en-" + strings.Repeat("abcdefgh-", 3) + "abcdef", "", false}, // 36
		{"", "", false},
		{"   ", "", false},
		{"de", "", false},
		{"de-RU", "", false},
		{"r", "", false},
		{"rus", "", false}, // ISO 639-2 code of Russian: not what supported matches
		{"*", "", false},   // a wildcard is no choice
		{"ru;q=0.5", "", false},
		{"ru,en", "", false},
		{"ru en", "", false},
		{"ru-", "", false},
		{"-ru", "", false},
		{"ru--RU", "", false},
		{"ru-RUSSIANFED", "", false}, // a subtag of 9
		{"r1", "", false},            // digits only after the primary subtag
		{"12-ru", "", false},
		{"русский", "", false},
		{"ru\x00", "", false},
		{"ru\u00a0", "ru", true}, // trimmed like an Accept-Language entry (strings.TrimSpace)
		{"ru\u00a0-RU", "", false},
		{"ru-\u0440\u0443", "", false},
	}
	for _, tt := range tests {
		got, ok := MatchLangTag(tt.tag)
		if got != tt.want || ok != tt.ok {
			t.Errorf("MatchLangTag(%q) = %q, %v; want %q, %v", tt.tag, got, ok, tt.want, tt.ok)
		}
		// The same matching as Accept-Language: a tag we accept reads the same there.
		if ok {
			if h, hok := ParseAcceptLanguage(tt.tag); h != got || !hok {
				t.Errorf("ParseAcceptLanguage(%q) = %q, %v; MatchLangTag says %q", tt.tag, h, hok, got)
			}
		}
	}
}

// FuzzMatchLangTag: whatever a client sends as callpass_lang, the match is a
// catalogue language or none, and a tag it accepts reads the same as an
// Accept-Language header.
func FuzzMatchLangTag(f *testing.F) {
	for _, s := range []string{"ru", "en-GB", "EN_us", "ru-Cyrl-RU", "*", "ru;q=1", "ru,en", "", "r", "ru--", "ру", "ru\x00", " en "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		l, ok := MatchLangTag(tag)
		if !ok {
			if l != "" {
				t.Fatalf("MatchLangTag(%q) = %q without ok", tag, l)
			}
			return
		}
		if l != LangEN && l != LangRU {
			t.Fatalf("MatchLangTag(%q) = %q", tag, l)
		}
		if len(strings.TrimSpace(tag)) > maxLangTag {
			t.Fatalf("MatchLangTag accepted %d characters", len(tag))
		}
		if h, hok := ParseAcceptLanguage(tag); h != l || !hok {
			t.Fatalf("ParseAcceptLanguage(%q) = %q, %v; MatchLangTag %q", tag, h, hok, l)
		}
	})
}
