package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestKratosValidationTextsInRussianOnRealKratos: a real Kratos v1.3.1
// refuses a registration whose phone is not a number (4000001, its English
// text the validator's `"12345" is not valid "tel"`) and one whose e-mail
// another account holds (4000028, English sentences built from that
// account's sign-in ways). A Russian page showed both in English; it now
// says them in Russian, from the messages' context. So it does an e-mail
// longer than the schema's maxLength (4000017, "length must be <= 320, but
// got 330").
func TestKratosValidationTextsInRussianOnRealKratos(t *testing.T) {
	if testing.Short() {
		t.Skip("real Kratos skipped in -short mode")
	}
	// login_hints: Kratos names the taken account's sign-in ways (4000028,
	// not 4000007).
	k := testenv.StartKratos(t, testenv.KratosOptions{Config: map[string]any{
		"selfservice": map[string]any{"flows": map[string]any{"registration": map[string]any{"login_hints": true}}}}})
	k.CreateIdentity(t, "taken@example.com", "a long enough password 1", "")

	register := func(traits map[string]any) []uiText {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var flow kratosFlow
		if status, raw := kratosJSON(t, ctx, k, http.MethodGet, "/self-service/registration/api", nil, &flow); status != http.StatusOK {
			t.Fatalf("registration flow: HTTP %d: %s", status, raw)
		}
		body := map[string]any{"method": "password", "password": "Another long password 2", "traits": traits}
		var refused kratosFlow
		status, raw := kratosJSON(t, ctx, k, http.MethodPost, "/self-service/registration?flow="+flow.ID, body, &refused)
		if status != http.StatusBadRequest {
			t.Fatalf("registration %v: HTTP %d, want 400: %s", traits, status, raw)
		}
		msgs := append([]uiText(nil), refused.UI.Messages...)
		for _, n := range refused.UI.Nodes {
			msgs = append(msgs, n.Messages...)
		}
		return msgs
	}
	tests := []struct {
		traits map[string]any
		id     int
		want   string
	}{
		{map[string]any{"email": "new@example.com", "phone": "12345"}, 4000001,
			"«12345» — это не номер телефона. Введите номер полностью, с кодом страны, например +7 900 123-45-67."},
		{map[string]any{"email": "new@example.com", "phone": ""}, 4000001,
			"Введите номер телефона полностью, с кодом страны, например +7 900 123-45-67."},
		{map[string]any{"email": strings.Repeat("a", 318) + "@example.com"}, 4000017,
			"Слишком длинно: можно не больше 320 символов (введено: 330)."},
		{map[string]any{"email": "taken@example.com"}, 4000028,
			"«taken@example.com» уже используется другой учётной записью. Войти в неё можно так: пароль."},
	}
	for _, tt := range tests {
		msgs := register(tt.traits)
		found := false
		for _, m := range msgs {
			if m.ID != tt.id {
				continue
			}
			found = true
			if got := localizeMsg("ru", m).Text; got != tt.want {
				t.Errorf("%v: Kratos said %d %q (context %v); the Russian page says %q, want %q", tt.traits, m.ID, m.Text, m.Context, got, tt.want)
			}
			if got := localizeMsg("en", m).Text; got != m.Text {
				t.Errorf("%v: the English page says %q, Kratos %q", tt.traits, got, m.Text)
			}
		}
		if !found {
			t.Errorf("%v: no message %d from Kratos: %+v", tt.traits, tt.id, msgs)
		}
	}
}

// kratosJSON sends a JSON request (nil body: none) to Kratos's public API
// and decodes a JSON answer into out.
func kratosJSON(t *testing.T, ctx context.Context, k *testenv.Kratos, method, path string, body, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.PublicURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, raw)
	}
	return resp.StatusCode, raw
}

// TestKratosRecoveryTextsInRussianOnRealKratos: a real Kratos v1.3.1's
// recovery flow (the code method) said everything in English on a Russian
// page: the "we sent a code" message (1060003), the code field's label
// (1070010), the resend button (1070008) and the refusal of a wrong code
// (4060006). Each is now in Russian; the English page keeps Kratos's words.
func TestKratosRecoveryTextsInRussianOnRealKratos(t *testing.T) {
	if testing.Short() {
		t.Skip("real Kratos skipped in -short mode")
	}
	k := testenv.StartKratos(t, testenv.KratosOptions{Config: map[string]any{
		"selfservice": map[string]any{
			"flows":   map[string]any{"recovery": map[string]any{"enabled": true, "use": "code"}},
			"methods": map[string]any{"code": map[string]any{"enabled": true}},
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var flow kratosFlow
	if status, raw := kratosJSON(t, ctx, k, http.MethodGet, "/self-service/recovery/api", nil, &flow); status != http.StatusOK {
		t.Fatalf("recovery flow: HTTP %d: %s", status, raw)
	}
	var sent kratosFlow
	if status, raw := kratosJSON(t, ctx, k, http.MethodPost, "/self-service/recovery?flow="+flow.ID,
		map[string]any{"method": "code", "email": "nobody@example.com"}, &sent); status != http.StatusOK {
		t.Fatalf("recovery email: HTTP %d: %s", status, raw)
	}
	var wrong kratosFlow
	status, raw := kratosJSON(t, ctx, k, http.MethodPost, "/self-service/recovery?flow="+flow.ID,
		map[string]any{"method": "code", "code": "000000"}, &wrong)
	if status != http.StatusOK && status != http.StatusBadRequest {
		t.Fatalf("recovery code: HTTP %d: %s", status, raw)
	}
	got := map[int]uiText{}
	for _, f := range []kratosFlow{sent, wrong} {
		for _, m := range f.UI.Messages {
			got[m.ID] = m
		}
		for _, n := range f.UI.Nodes {
			if n.Meta.Label != nil {
				got[n.Meta.Label.ID] = *n.Meta.Label
			}
			for _, m := range n.Messages {
				got[m.ID] = m
			}
		}
	}
	for id, want := range map[int]string{
		1060003: "Мы отправили письмо с кодом для восстановления доступа на указанный адрес. Если письма нет, проверьте, нет ли опечатки в адресе, и укажите тот, с которым регистрировались.",
		1070010: "Код восстановления",
		1070008: "Отправить код ещё раз",
		4060006: "Код восстановления неверный или уже использован. Попробуйте ещё раз.",
	} {
		m, ok := got[id]
		if !ok {
			t.Errorf("Kratos sent no %d (got %v)", id, got)
			continue
		}
		if ru := localizeMsg("ru", m); ru.Text != want || ru.Lang != "" {
			t.Errorf("%d: Kratos said %q; the Russian page says %q (lang %q), want %q", id, m.Text, ru.Text, ru.Lang, want)
		}
		if en := localizeMsg("en", m).Text; en != m.Text {
			t.Errorf("%d: the English page says %q, Kratos %q", id, en, m.Text)
		}
	}
}
