package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// TestEarlierCallCodeAnswers: a wrong code that is an earlier call's (a
// resend replaced it) is still wrong_code / 4090001 with its attempts, but
// says so: "reason": "earlier_call" in the API answer and in the Kratos
// message's context, and a text asking for the most recent call's digits,
// in the user's language.
func TestEarlierCallCodeAnswers(t *testing.T) {
	h := newServer(t, &recorder{err: &challenge.WrongCodeError{AttemptsLeft: 1, EarlierCall: true}}, nil)

	w := do(h, reqSpec{method: http.MethodPost, path: "/v1/challenges", hdr: map[string]string{"X-Session-Token": "t", "Accept-Language": "en"}})
	var api struct {
		apiErr
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &api); err != nil {
		t.Fatalf("API answer: %s", w.Body)
	}
	const en = "This is the code of an earlier call. Enter the last digits of the most recent incoming number. 1 attempt left."
	if w.Code != http.StatusBadRequest || api.Error != "wrong_code" || api.Reason != "earlier_call" ||
		api.AttemptsLeft == nil || *api.AttemptsLeft != 1 || api.Message != en {
		t.Errorf("API: %d %s", w.Code, w.Body)
	}

	// The hook: validBody asks for Russian (accept_language).
	w = do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", body: bytes.NewReader(validBody()),
		hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}})
	var km hookAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &km); err != nil || len(km.Messages) != 1 || len(km.Messages[0].Messages) != 1 {
		t.Fatalf("hook answer: %d %s", w.Code, w.Body)
	}
	m := km.Messages[0].Messages[0]
	const ru = "Это код из предыдущего звонка. Введите последние цифры номера, с которого звонили последним. Осталась 1 попытка."
	if w.Code != http.StatusBadRequest || m.ID != 4090001 || m.Context["reason"] != "earlier_call" || m.Context["attempts_left"] != float64(1) || m.Text != ru {
		t.Errorf("hook: %d %s", w.Code, w.Body)
	}

	// A plain wrong code has no reason.
	h = newServer(t, &recorder{err: &challenge.WrongCodeError{AttemptsLeft: 1}}, nil)
	w = do(h, reqSpec{method: http.MethodPost, path: "/v1/challenges", hdr: map[string]string{"X-Session-Token": "t"}})
	if bytes.Contains(w.Body.Bytes(), []byte("reason")) || bytes.Contains(w.Body.Bytes(), []byte("earlier")) {
		t.Errorf("plain wrong code: %s", w.Body)
	}
}
