package webhook

import "testing"

// TestHookPayloadLang: the language choice on its own — callpass_lang (as
// decoded) first, then Accept-Language with its q-values, then English.
func TestHookPayloadLang(t *testing.T) {
	tests := []struct {
		lang, accept, want string
	}{
		{"", "", "en"},
		{"", "ru", "ru"},
		{"", "de, ru;q=0.5, en;q=0.4", "ru"},
		{"", "ru;q=0, de", "en"},
		{"ru", "", "ru"},
		{"ru", "en", "ru"},
		{"en", "ru-RU,ru;q=0.9", "en"},
		{"en", "garbage;;;", "en"},
	}
	for _, tt := range tests {
		p := HookPayload{Lang: tt.lang, AcceptLanguage: tt.accept}
		if got := p.lang(); got != tt.want {
			t.Errorf("lang() with Lang %q, Accept-Language %q = %q, want %q", tt.lang, tt.accept, got, tt.want)
		}
	}
}
