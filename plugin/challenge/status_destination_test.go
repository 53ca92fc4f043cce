package challenge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// TestPolledStatusMasksDestination: the background poller passes the
// challenge's number to the CallPass client, so a status text echoing it
// with letters between its digits (which the digit-group masking alone
// lets through) is stored masked, and neither the client's log lines nor
// the service's carry it.
func TestPolledStatusMasksDestination(t *testing.T) {
	for _, tc := range []struct{ status, stored string }{
		{"busy 7a900a123a45a67", "busy #a###a###a##a##"},
		{"NEW 8(900)x123x4567", "NEW #(###)x###x####"},
		{"to 900z1234567", "to ###z#######"},
		{"абонент 7ф900ы123ю45я67", "абонент #ф###ы###ю##я##"},
	} {
		t.Run(tc.status, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if strings.Contains(r.URL.Path, "status") {
					q, _ := json.Marshal(tc.status)
					_, _ = fmt.Fprintf(w, `{"data":{"result":%s},"status":"success"}`, q)
					return
				}
				_, _ = fmt.Fprint(w, `{"data":{"callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","phone":"2210446","result":"null"},"status":"success"}`)
			}))
			t.Cleanup(srv.Close)
			var logs testenv.LogBuffer
			client, err := callpass.New(callpass.Config{BaseURL: srv.URL, Token: strings.Repeat("ab", 16), APIVersion: 3, Async: true,
				Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			svc, slogs, _ := newLoggedService(t, client, nil)
			res, err := svc.Start(context.Background(), req("flow-mask"))
			if err != nil || !res.Placed {
				t.Fatalf("Start = %+v, %v", res, err)
			}
			var got challenge.Challenge
			for deadline := time.Now().Add(2 * time.Second); ; {
				if got, err = svc.Get(context.Background(), res.Challenge.ID); err != nil {
					t.Fatal(err)
				}
				if got.CallStatus != "null" || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got.CallStatus != tc.stored {
				t.Fatalf("stored call status %q, want %q", got.CallStatus, tc.stored)
			}
			_ = svc.Close() // the poller is done: its log lines are all written
			if !strings.Contains(logs.String(), "callpass call status") {
				t.Fatalf("the client logged no status:\n%s", logs.String())
			}
			for _, line := range strings.Split(logs.String()+slogs.String(), "\n") {
				if digitsIn(line, "9001234567") {
					t.Errorf("log line carries the number: %s", line)
				}
			}
		})
	}
}

// digitsIn reports whether the ASCII digits of s, all else ignored, hold
// want.
func digitsIn(s, want string) bool {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return strings.Contains(b.String(), want)
}
