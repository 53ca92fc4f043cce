package webhook

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/labstack/echo/v4"
)

// rewindBody is a request body the test rewinds before each request.
type rewindBody struct{ *bytes.Reader }

func (rewindBody) Close() error { return nil }

// TestHookGateAllocs: the secret check and the body limiter in front of
// every hook allocate only the buffer the body is read into (the header was
// copied to be hashed, and the body served again from a reader of its own).
func TestHookGateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	const secret = "a-webhook-secret-as-long-as-a-real-one-0123456789abcdef"
	s := &Server{cfg: Config{WebhookSecret: secret}}
	body := []byte(`{"flow_id":"5e1b7b4a-0000-4000-8000-000000000002"}`)
	req := httptest.NewRequest(http.MethodPost, "/hooks/kratos/login", nil)
	req.Header.Set(echo.HeaderAuthorization, "Bearer "+secret)
	st := &requestState{Context: echo.New().NewContext(req, httptest.NewRecorder())}
	var got []byte
	h := s.requireWebhookSecret(limitBody(hookBodyLimit)(func(c echo.Context) error {
		got = stateOf(c).body
		return nil
	}))
	rd := rewindBody{bytes.NewReader(nil)}
	serve := func() {
		rd.Reset(body)
		req.Body, req.ContentLength = rd, int64(len(body))
		st.body = nil
		if err := h(st); err != nil {
			t.Fatal(err)
		}
	}
	if n := allocs.Min(100, serve); n != 1 {
		t.Errorf("the hook's secret check and body limiter make %v allocations, want 1 (the body's buffer)", n)
	}
	// The body as read, and served again to whatever reads the request's.
	serve()
	again, err := io.ReadAll(req.Body)
	if err != nil || !bytes.Equal(got, body) || !bytes.Equal(again, body) || req.Body.Close() != nil {
		t.Errorf("body %q, read again %q (%v)", got, again, err)
	}
}
