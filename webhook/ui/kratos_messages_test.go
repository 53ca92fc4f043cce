package ui

import (
	"strings"
	"testing"
)

// TestKratosPasswordRefusalsLocalized: Kratos words its password and
// registration messages in English only; a Russian page says them in
// Russian, numbers from Kratos's context (JSON numbers) with the right
// plural, and an English page keeps Kratos's own words.
func TestKratosPasswordRefusalsLocalized(t *testing.T) {
	tests := []struct {
		lang string
		id   int
		ctx  map[string]any
		want string
	}{
		{"ru", 4000032, map[string]any{"min_length": float64(8), "actual_length": float64(5)}, "Пароль должен быть не короче 8 символов (введено: 5)."},
		{"ru", 4000032, map[string]any{"min_length": float64(1), "actual_length": float64(0)}, "Пароль должен быть не короче 1 символа (введено: 0)."},
		{"ru", 4000032, map[string]any{"min_length": float64(2), "actual_length": float64(1)}, "Пароль должен быть не короче 2 символов (введено: 1)."},
		{"ru", 4000032, map[string]any{"min_length": float64(21), "actual_length": float64(3)}, "Пароль должен быть не короче 21 символа (введено: 3)."},
		{"ru", 4000033, map[string]any{"max_length": float64(72), "actual_length": float64(80)}, "Пароль должен быть не длиннее 72 символов (введено: 80)."},
		{"ru", 4000031, nil, "Этот пароль использовать нельзя: он слишком похож на ваш логин."},
		{"ru", 4000005, map[string]any{"reason": "it is too weak"}, "Этот пароль использовать нельзя."},
		{"ru", 1040008, nil, "Назад"},
		{"en", 4000032, map[string]any{"min_length": float64(8), "actual_length": float64(5)}, "The password must be at least 8 characters long, but got 5."},
		{"en", 4000005, map[string]any{"reason": "it is too weak"}, "The password can not be used because it is too weak."},
		{"en", 1040008, nil, "Back"},
		{"ru", 4000017, map[string]any{"max_length": float64(320), "actual_length": float64(330)}, "Слишком длинно: можно не больше 320 символов (введено: 330)."},
		{"ru", 4000017, map[string]any{"max_length": float64(64), "actual_length": float64(70)}, "Слишком длинно: можно не больше 64 символов (введено: 70)."},
		{"ru", 4000017, map[string]any{"max_length": float64(22), "actual_length": float64(23)}, "Слишком длинно: можно не больше 22 символов (введено: 23)."},
		{"en", 4000017, map[string]any{"max_length": float64(320), "actual_length": float64(330)}, "length must be <= 320, but got 330"},
	}
	for _, tt := range tests {
		if got := Localize(tt.lang, tt.id, tt.ctx); got != tt.want {
			t.Errorf("%s %d %v: %q, want %q", tt.lang, tt.id, tt.ctx, got, tt.want)
		}
	}
}

// TestKratosFreeTextLocalized: the three Kratos validation messages whose
// text is built from variable parts (4000001, 4000004, 4000028) stayed in
// English on Russian pages. They are now worded from their context; the
// English page says exactly what Kratos v1.3.1 says (the texts below are
// those of its text/message_validation.go and of ory/jsonschema v3's
// messages); a reason of a shape not known here gives "" on both, so the
// page shows Kratos's own text.
func TestKratosFreeTextLocalized(t *testing.T) {
	dup := func(hint any, types, providers []any) map[string]any {
		return map[string]any{"credential_identifier_hint": hint, "available_credential_types": types, "available_oidc_providers": providers}
	}
	tests := []struct {
		lang string
		id   int
		ctx  map[string]any
		want string
	}{
		{"ru", 4000001, map[string]any{"reason": `"12345" is not valid "tel"`}, "«12345» — это не номер телефона. Введите номер полностью, с кодом страны, например +7 900 123-45-67."},
		{"en", 4000001, map[string]any{"reason": `"12345" is not valid "tel"`}, `"12345" is not valid "tel"`},
		{"ru", 4000001, map[string]any{"reason": `"" is not valid "tel"`}, "Введите номер телефона полностью, с кодом страны, например +7 900 123-45-67."},
		{"en", 4000001, map[string]any{"reason": `"" is not valid "tel"`}, `"" is not valid "tel"`},
		{"ru", 4000001, map[string]any{"reason": `" " is not valid "email"`}, "Введите адрес электронной почты."},
		{"ru", 4000001, map[string]any{"reason": `"" is not valid "date"`}, "Заполните это поле (формат «date»)."},
		{"en", 4000001, map[string]any{"reason": `"" is not valid "date"`}, `"" is not valid "date"`},
		{"ru", 4000001, map[string]any{"reason": `"bob@" is not valid "email"`}, "«bob@» — это не адрес электронной почты."},
		{"en", 4000001, map[string]any{"reason": `"bob@" is not valid "email"`}, `"bob@" is not valid "email"`},
		{"ru", 4000001, map[string]any{"reason": `"a \"b\"" is not valid "date"`}, `«a "b"» не подходит: нужен формат «date».`},
		{"en", 4000001, map[string]any{"reason": `"a \"b\"" is not valid "date"`}, `"a \"b\"" is not valid "date"`},
		{"ru", 4000001, map[string]any{"reason": `value must be one of "ru", "en"`}, `Выберите одно из допустимых значений: "ru", "en".`},
		{"en", 4000001, map[string]any{"reason": `value must be one of "ru", "en"`}, `value must be one of "ru", "en"`},
		// Shapes not known: Kratos's text stays.
		{"ru", 4000001, map[string]any{"reason": "The request was malformed or contained invalid parameters"}, ""},
		{"ru", 4000001, map[string]any{"reason": `"x is not valid "tel"`}, ""},
		{"ru", 4000001, nil, ""},
		{"en", 4000001, map[string]any{"reason": "anything"}, ""},
		{"ru", 4000004, map[string]any{"pattern": `^\+7\d{10}$`}, "Значение введено в неверном формате."},
		{"en", 4000004, map[string]any{"pattern": `^\+7\d{10}$`}, `does not match pattern "^\\+7\\d{10}$"`},
		{"ru", 4000004, nil, ""},
		{"ru", 4000028, dup("alice@example.com", []any{"password", "oidc"}, []any{"github", "google"}),
			"«alice@example.com» уже используется другой учётной записью. Войти в неё можно так: пароль или вход через соцсеть. Войти можно и через соцсеть: Github, Google."},
		{"en", 4000028, dup("alice@example.com", []any{"password", "oidc"}, []any{"github", "google"}),
			"You tried signing in with alice@example.com which is already in use by another account. You can sign in using your password, or social sign in. You can sign in using one of the following social sign in providers: Github, Google."},
		{"ru", 4000028, dup("", []any{"password", "passkey", "webauthn"}, nil),
			"Этот адрес почты, телефон или имя пользователя уже используется другой учётной записью. Войти в неё можно так: пароль, ключ доступа или ключ доступа или электронный ключ."},
		{"en", 4000028, dup(nil, []any{"password", "passkey", "webauthn"}, []any{}),
			"You tried signing in with an email, phone, or username which is already in use by another account. You can sign in using your password, your passkey, or your passkey or a security key."},
		{"ru", 4000028, dup("+79001234567", []any{"code"}, nil),
			"«+79001234567» уже используется другой учётной записью. Войти в неё можно так: одноразовый код."},
		{"en", 4000028, dup("+79001234567", []any{"code"}, nil),
			"You tried signing in with +79001234567 which is already in use by another account. You can sign in using code."},
		// Kratos names only its four known ways and, when none is there, lists
		// the ids as they are: English keeps that; Russian names the ids it
		// knows and leaves out one it cannot name (never an id on the page).
		{"ru", 4000028, dup("bob", []any{"totp", "lookup_secret", "saml"}, nil),
			"«bob» уже используется другой учётной записью. Войти в неё можно так: приложение-аутентификатор или резервные коды."},
		{"en", 4000028, dup("bob", []any{"totp", "lookup_secret", "saml"}, nil),
			"You tried signing in with bob which is already in use by another account. You can sign in using totp, lookup_secret, or saml."},
		{"ru", 4000028, dup("bob", []any{"saml"}, nil), "«bob» уже используется другой учётной записью."},
		{"ru", 4000028, dup("bob", []any{"totp", "password"}, nil),
			"«bob» уже используется другой учётной записью. Войти в неё можно так: пароль."},
		{"en", 4000028, dup("+79001234567", []any{"code", "password"}, nil),
			"You tried signing in with +79001234567 which is already in use by another account. You can sign in using your password."},
		{"ru", 4000028, dup("bob", nil, nil), "«bob» уже используется другой учётной записью."},
		{"ru", 4000028, map[string]any{"available_credential_types": "password"}, ""},
	}
	for _, tt := range tests {
		if got := Localize(tt.lang, tt.id, tt.ctx); got != tt.want {
			t.Errorf("%s %d %v:\n got %q\nwant %q", tt.lang, tt.id, tt.ctx, got, tt.want)
		}
	}
}

// TestKratosRecoveryAndVerificationLocalized: the recovery and verification
// flows' messages and the code fields' labels (Kratos v1.3.1 text/id.go
// 1060001-1060003, 1080001-1080003, 4060001-4060006, 4070001-4070006,
// 4010005-4010006, 1070006-1070013) had no Russian text: a Russian page
// showed Kratos's English. Each now has one; the English texts are
// Kratos's own (without the minutes it computes, as for 4010001).
func TestKratosRecoveryAndVerificationLocalized(t *testing.T) {
	ids := []int{1060001, 1060002, 1060003, 1080001, 1080002, 1080003,
		4060001, 4060002, 4060004, 4060005, 4060006, 4070001, 4070002, 4070003, 4070005, 4070006,
		4010005, 4010006, 1070006, 1070008, 1070010, 1070011, 1070012, 1070013}
	for _, id := range ids {
		for _, l := range Languages() {
			if !HasMessage(l, id) {
				t.Errorf("id %d has no %s text", id, l)
			}
		}
		ru := Localize(LangRU, id, map[string]any{"privileged_session_expires_at": "2026-11-27T22:15:00.123456Z"})
		if ru == "" || strings.ContainsAny(ru, "{}#") || !strings.ContainsAny(ru, "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ") {
			t.Errorf("Localize(ru, %d) = %q: not Russian", id, ru)
		}
	}
	tests := []struct {
		lang string
		id   int
		ctx  map[string]any
		want string
	}{
		{"en", 1080002, nil, "You successfully verified your email address."},
		{"ru", 1080002, nil, "Адрес почты подтверждён."},
		{"en", 4060006, nil, "The recovery code is invalid or has already been used. Please try again."},
		{"en", 1070010, nil, "Recovery code"},
		// 1070006 labels the field where an authenticator app's code is
		// typed to finish setting it up (Kratos v1.3.1
		// selfservice/strategy/totp/nodes.go NewVerifyTOTPNode): a field's
		// name, not a button's "verify the code".
		{"en", 1070006, nil, "Verify code"},
		{"ru", 1070006, nil, "Код для проверки"},
		{"ru", 1060001, map[string]any{"privileged_session_expires_at": "2026-11-27T22:15:00.123456Z"},
			"Доступ к учётной записи восстановлен. Смените пароль или настройте другой способ входа до 22:15:00 UTC."},
		{"ru", 1060001, nil, "Доступ к учётной записи восстановлен. Смените пароль или настройте другой способ входа в ближайшие минуты."},
	}
	for _, tt := range tests {
		if got := Localize(tt.lang, tt.id, tt.ctx); got != tt.want {
			t.Errorf("%s %d %v:\n got %q\nwant %q", tt.lang, tt.id, tt.ctx, got, tt.want)
		}
	}
}

// TestKratosSignInMethodTextsLocalized: the other ways to sign in and sign
// up (an authenticator app, backup codes, a security key or passkey, a
// code by e-mail, account linking; Kratos v1.3.1 text/message_login.go,
// message_registration.go, message_node.go, message_system.go) showed
// their buttons, labels and refusals in English on a Russian page.
func TestKratosSignInMethodTextsLocalized(t *testing.T) {
	ids := []int{1010004, 1010005, 1010006, 1010007, 1010008, 1010009, 1010010, 1010011, 1010012, 1010014,
		1010015, 1010017, 1010018, 1010019, 1010021, 1010023, 1040004, 1040005, 1040006, 1040007, 1070014, 1070015,
		4010002, 4010003, 4010004, 4010007, 4010008, 4010009, 4010010, 4040002, 4040003}
	ctx := map[string]any{"provider": "GitHub", "address": "a***@example.com", "channel": "email"}
	for _, id := range ids {
		for _, l := range Languages() {
			if !HasMessage(l, id) {
				t.Errorf("id %d has no %s text", id, l)
			}
		}
		ru := Localize(LangRU, id, ctx)
		if ru == "" || strings.ContainsAny(ru, "{}#") || !strings.ContainsAny(ru, "абвгдеёжзийклмнопрстуфхцчшщъыьэюя") {
			t.Errorf("Localize(ru, %d) = %q: not Russian", id, ru)
		}
	}
	tests := []struct {
		lang string
		id   int
		want string
	}{
		{"en", 1010006, "Authentication code"},
		{"ru", 1010006, "Код из приложения"},
		{"en", 1010018, "Confirm with GitHub"},
		{"ru", 1010018, "Подтвердить через GitHub"},
		{"en", 1010023, "Send code to a***@example.com"},
		{"ru", 1010023, "Отправить код на a***@example.com"},
		{"en", 4010008, "The login code is invalid or has already been used. Please try again."},
	}
	for _, tt := range tests {
		if got := Localize(tt.lang, tt.id, ctx); got != tt.want {
			t.Errorf("%s %d: got %q, want %q", tt.lang, tt.id, got, tt.want)
		}
	}
}
