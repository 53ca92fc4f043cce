package ui

import (
	"strings"
	"testing"
	"unicode"
)

// TestKratosLeftoverIDsInRussian: four Kratos ids still showed Kratos's
// English on a Russian page: 1010016 (an OIDC sign-in whose e-mail another
// account holds: link it by signing in to that one; Kratos v1.3.1
// text/message_login.go NewInfoLoginLinkMessage), 1070002 (a field label
// Kratos takes from the identity schema's title, known to the catalogue only
// in examples/ui's nodeLabel, not in the table every caller uses), and
// 4060003 and 4070004 (a recovery or verification link without its token:
// declared in text/id.go, no text of Kratos's own). Each now renders in
// Russian from the table with its context values where the English has
// them; the English page says exactly what Kratos says.
func TestKratosLeftoverIDsInRussian(t *testing.T) {
	link := map[string]any{"duplicateIdentifier": "alice@example.com", "duplicate_identifier": "alice@example.com",
		"provider": "GitHub", "newLoginUrl": "https://x/l", "new_login_url": "https://x/l",
		"available_credential_types": []any{"password"}, "available_providers": []any{}}
	tests := []struct {
		id     int
		ctx    map[string]any
		values []string // context values the text carries as they are
		ru, en string
	}{
		{1010016, link, []string{"alice@example.com", "GitHub"},
			"Вы пытались войти как «alice@example.com», но этот адрес почты уже используется другой учётной записью. Войдите в неё одним из способов ниже, чтобы добавить ваш аккаунт «alice@example.com» в «GitHub» как ещё один способ входа.",
			`You tried to sign in with "alice@example.com", but that email is already used by another account. Sign in to your account with one of the options below to add your account "alice@example.com" at "GitHub" as another way to sign in.`},
		{1070002, map[string]any{"title": "E-Mail"}, nil, "Эл. почта", "Email"},
		{1070002, map[string]any{"title": "Phone"}, nil, "Телефон", "Phone"},
		{4060003, nil, nil, "Ссылка для восстановления неполная. Начните заново.", "The recovery token is missing. Please retry the flow."},
		{4070004, nil, nil, "Ссылка для подтверждения неполная. Начните заново.", "The verification token is missing. Please retry the flow."},
	}
	for _, tt := range tests {
		ru := Localize(LangRU, tt.id, tt.ctx)
		rest := ru
		for _, v := range tt.values {
			rest = strings.ReplaceAll(rest, v, "")
		}
		if ru == "" || strings.IndexFunc(rest, func(r rune) bool { return r < unicode.MaxASCII && unicode.IsLetter(r) }) >= 0 {
			t.Errorf("Localize(ru, %d) = %q: English on a Russian page", tt.id, ru)
		}
		if ru != tt.ru {
			t.Errorf("ru %d:\n got %q\nwant %q", tt.id, ru, tt.ru)
		}
		if en := Localize(LangEN, tt.id, tt.ctx); en != tt.en {
			t.Errorf("en %d:\n got %q\nwant %q", tt.id, en, tt.en)
		}
	}
	// A title the catalogue does not know is the operator's own word, and a
	// link message without its values cannot be said: Kratos's text stays.
	for _, c := range []struct {
		id  int
		ctx map[string]any
	}{{1070002, map[string]any{"title": "Nickname"}}, {1070002, nil}, {1010016, map[string]any{"provider": "GitHub"}}} {
		if got := Localize(LangRU, c.id, c.ctx); got != "" {
			t.Errorf("Localize(ru, %d, %v) = %q, want \"\" (Kratos's text)", c.id, c.ctx, got)
		}
	}
}
