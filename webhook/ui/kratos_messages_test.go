package ui

import "testing"

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
	}
	for _, tt := range tests {
		if got := Localize(tt.lang, tt.id, tt.ctx); got != tt.want {
			t.Errorf("%s %d %v: %q, want %q", tt.lang, tt.id, tt.ctx, got, tt.want)
		}
	}
}
