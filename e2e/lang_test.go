package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestCallpassLangOverAcceptLanguage: a UI whose HTTP client sends an
// Accept-Language other than its user's language (a mobile app on the API
// flow) picks the language of the gate's messages with
// transient_payload.callpass_lang, through a real Kratos: on the first
// submit (password; the call starts), on a wrong code, and not on a submit
// that leaves it out (each submission names its own). The browser flow's
// string transient_payload carries it too.
func TestCallpassLangOverAcceptLanguage(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	type texts struct{ calling, wrong2, wrong1 string }
	want := map[string]func(mask string) texts{
		"en": func(mask string) texts {
			return texts{"We are calling " + mask + ". Enter the last 4 digits of the incoming number.",
				"Wrong code. 2 attempts left.", "Wrong code. 1 attempt left."}
		},
		"ru": func(mask string) texts {
			return texts{"Мы звоним на " + mask + ". Введите последние 4 цифры входящего номера.",
				"Неверный код. Осталось 2 попытки.", "Неверный код. Осталась 1 попытка."}
		},
	}
	tests := []struct {
		name, email, dn, mask string
		accept, callpassLang  string
		want, fallback        string // the language with callpass_lang, and without it
	}{
		{"ru over Accept-Language en", "lang-ru@example.com", "79001230011", "+7 900 ***-**-11", "en", "ru", "ru", "en"},
		{"en-GB over Accept-Language ru", "lang-en@example.com", "79001230022", "+7 900 ***-**-22", "ru-RU,ru;q=0.9", "en-GB", "en", "ru"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st.Kratos.CreateIdentity(t, tt.email, testPassword, "+"+tt.dn)
			hdr := http.Header{"Accept-Language": {tt.accept}}
			submit := func(flowID string, tp map[string]any) (string, int64, string) {
				t.Helper()
				r, err := st.Kratos.SubmitAPILoginHeader(ctx, flowID, tt.email, testPassword, tp, hdr)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.UIMessages) != 1 {
					t.Fatalf("want one message, got HTTP %d %v: %s", r.StatusCode, ids(r), r.Body)
				}
				return r.SessionToken, r.UIMessages[0].ID, r.UIMessages[0].Text
			}
			flowID, err := st.Kratos.NewAPILoginFlow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			w, fb := want[tt.want](tt.mask), want[tt.fallback](tt.mask)

			// The first submit: password, the call starts.
			if _, id, text := submit(flowID, map[string]any{"callpass_lang": tt.callpassLang}); id != 1090001 || text != w.calling {
				t.Errorf("first submit: %d %q, want 1090001 %q", id, text, w.calling)
			}
			code := lastCode(t, st.Services[0].URL, tt.dn)
			// A wrong code, in callpass_lang's language.
			if _, id, text := submit(flowID, map[string]any{"callpass_code": wrongCode(code), "callpass_lang": tt.callpassLang}); id != 4090001 || text != w.wrong2 {
				t.Errorf("wrong code: %d %q, want 4090001 %q", id, text, w.wrong2)
			}
			// Without callpass_lang, Accept-Language decides again: Kratos
			// forwards each submission's transient_payload, not an earlier one.
			if _, id, text := submit(flowID, map[string]any{"callpass_code": wrongCode(code)}); id != 4090001 || text != fb.wrong1 {
				t.Errorf("wrong code without callpass_lang: %d %q, want 4090001 %q", id, text, fb.wrong1)
			}
			r, err := st.Kratos.SubmitAPILoginHeader(ctx, flowID, tt.email, testPassword,
				map[string]any{"callpass_code": code, "callpass_lang": tt.callpassLang}, hdr)
			if err != nil {
				t.Fatal(err)
			}
			if r.SessionToken == "" {
				t.Fatalf("right code: no session (HTTP %d %v): %s", r.StatusCode, ids(r), r.Body)
			}
		})
	}

	t.Run("unusable callpass_lang falls back", func(t *testing.T) {
		const email, dn = "lang-bad@example.com", "79001230033"
		st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
		flowID, err := st.Kratos.NewAPILoginFlow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hdr := http.Header{"Accept-Language": {"ru"}}
		for _, v := range []any{"de", 42, "ru;q=0.1, en", map[string]any{"lang": "en"}} {
			r, err := st.Kratos.SubmitAPILoginHeader(ctx, flowID, email, testPassword, map[string]any{"callpass_lang": v}, hdr)
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := r.Message(1090001); !ok || m.Text != want["ru"]("+7 900 ***-**-33").calling {
				t.Errorf("callpass_lang %v: want 1090001 in Russian (Accept-Language), got HTTP %d %s", v, r.StatusCode, r.Body)
			}
		}
	})

	t.Run("browser form post", func(t *testing.T) {
		// A form post sends transient_payload as one field holding a JSON
		// string; the test client sends no Accept-Language (English).
		const email, dn = "lang-browser@example.com", "79001230044"
		st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
		b := st.Kratos.NewBrowser(t)
		flow, err := b.NewLoginFlow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := b.BrowserLoginFormPost(ctx, flow, email, testPassword, map[string]any{"callpass_lang": "ru"})
		if err != nil {
			t.Fatal(err)
		}
		ru := want["ru"]("+7 900 ***-**-44")
		if m, ok := r.Message(1090001); !ok || m.Text != ru.calling {
			t.Fatalf("first submit: want 1090001 %q, got %q (redirect %s)", ru.calling, messageTexts(r), r.RedirectTo)
		}
		code := lastCode(t, st.Services[0].URL, dn)
		r, err = b.BrowserLoginFormPost(ctx, flow, email, testPassword, map[string]any{"callpass_code": wrongCode(code), "callpass_lang": "ru"})
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := r.Message(4090001); !ok || m.Text != ru.wrong2 {
			t.Errorf("wrong code: want 4090001 %q, got %q", ru.wrong2, messageTexts(r))
		}
	})
}

// messageTexts are a result's messages as "id: text".
func messageTexts(r *testenv.FlowResult) []string {
	var out []string
	for _, m := range r.UIMessages {
		out = append(out, fmt.Sprintf("%d: %s", m.ID, m.Text))
	}
	return out
}
