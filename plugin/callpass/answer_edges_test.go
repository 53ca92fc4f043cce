package callpass

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// TestTokenInContentTypeRedacted: a provider or proxy echoing the token in
// the Content-Type header (the answer's only header we quote) does not put
// it in the error, its fields or the log.
func TestTokenInContentTypeRedacted(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := newProvider(t, answer(http.StatusInternalServerError, "text/html; t="+testToken, "<html>oops</html>"))
	c := newTestClient(t, p.srv.URL, 2, func(cfg *Config) { cfg.Logger = logger })
	_, err := c.StartCall(context.Background(), mustPhone(t))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v", err)
	}
	for what, s := range map[string]string{"error": err.Error(), "content type": e.ContentType, "excerpt": e.Excerpt, "log": buf.String()} {
		if strings.Contains(strings.ToLower(s), strings.ToLower(testToken[:8])) {
			t.Errorf("the %s carries the token: %s", what, s)
		}
	}
	if !strings.Contains(e.ContentType, "[token]") {
		t.Errorf("content type %q: want the token replaced by [token]", e.ContentType)
	}
}

// TestCutAnswerIsSent: a start whose answer's status line and headers
// arrived but whose body was cut off reached the provider (the call may be
// placed): the error says so and the start is not sent again.
func TestCutAnswerIsSent(t *testing.T) {
	var starts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		starts.Add(1)
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("no hijacker")
			return
		}
		conn, rw, err := hj.Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"status\":")
		_ = rw.Flush()
		// Closed with 90 bytes still owed.
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, 2, nil)
	_, err := c.StartCall(context.Background(), mustPhone(t))
	e := assertKind(t, err, flashcall.ErrUnavailable, OpStart)
	if !e.Sent {
		t.Error("Sent = false for a start whose answer had begun")
	}
	if n := starts.Load(); n != 1 {
		t.Errorf("the provider got %d starts, want exactly 1", n)
	}
}

// TestFailureEnvelopesNeverSucceed: a level-1 status other than "success"
// and a level-2 result "error" in any letter case are failures, even when
// the rest of the answer looks like a placed call.
func TestFailureEnvelopesNeverSucceed(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"level 1 fail", `{"status":"fail","data":{"callid":"0b5c2d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e","pin":"1234","result":"success"}}`},
		{"level 1 ok", `{"status":"ok","data":{"callid":"0b5c2d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e","pin":"1234","result":"success"}}`},
		{"level 2 Error", `{"status":"success","data":{"callid":"0b5c2d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e","pin":"1234","result":"Error","message":"x"}}`},
		{"level 2 ERROR", `{"status":"success","data":{"result":"ERROR","message":"x"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := DecodeResponse(http.StatusOK, "application/json", []byte(tt.body))
			if err == nil {
				t.Fatalf("decoded as a success: %+v", env.Data)
			}
		})
	}
}
