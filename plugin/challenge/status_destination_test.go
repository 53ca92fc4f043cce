package challenge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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
			for deadline := time.Now().Add(30 * time.Second); ; {
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

// TestProviderErrorsMaskDestination: CallPass's own error answers quoting
// the destination, in every spelling of testenv.DestinationSpellings, reach
// no log line and no error text: a start refused ("callpass start failed",
// "flash call failed", the error Start returns), and a poll that fails
// (a 502 page: "poll failed; retrying") and is then refused ("polling
// stopped").
func TestProviderErrorsMaskDestination(t *testing.T) {
	for _, text := range testenv.DestinationSpellings {
		t.Run(text, func(t *testing.T) {
			refusal, _ := json.Marshal("gone: " + text)
			page := "<html><body><p>gone: " + text + "</p></body></html>"

			// The start refused.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprintf(w, `{"status":"error","message":%s}`, refusal)
			}))
			t.Cleanup(srv.Close)
			client, clogs := loggedCallPass(t, srv.URL)
			svc, slogs, _ := newLoggedService(t, client, nil)
			_, err := svc.Start(context.Background(), req("flow-refused"))
			if err == nil || !strings.Contains(err.Error(), "gone") {
				t.Fatalf("Start = %v, want the provider's refusal quoted", err)
			}
			if anyScriptDigitsIn(err.Error(), testenv.DestinationNational) {
				t.Errorf("Start's error carries the number: %v", err)
			}
			_ = svc.Close()
			checkLines(t, clogs.String()+slogs.String(), "callpass start failed", "flash call failed")

			// The poll failing, then refused.
			var polls atomic.Int32
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, "status") {
					w.Header().Set("Content-Type", "application/json")
					_, _ = fmt.Fprint(w, `{"data":{"callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","phone":"2210446","result":"null"},"status":"success"}`)
					return
				}
				// One CallStatus makes three attempts at provider trouble.
				if polls.Add(1) <= 3 {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(http.StatusBadGateway)
					_, _ = fmt.Fprint(w, page)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprintf(w, `{"status":"error","message":%s}`, refusal)
			}))
			t.Cleanup(srv.Close)
			client, clogs = loggedCallPass(t, srv.URL)
			svc, slogs, _ = newLoggedService(t, client, nil)
			if res, err := svc.Start(context.Background(), req("flow-polled")); err != nil || !res.Placed {
				t.Fatalf("Start = %+v, %v", res, err)
			}
			for deadline := time.Now().Add(30 * time.Second); !strings.Contains(slogs.String(), "call status polling stopped"); {
				if time.Now().After(deadline) {
					t.Fatalf("polling did not stop:\n%s", slogs.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			_ = svc.Close()
			checkLines(t, clogs.String()+slogs.String(), "callpass status failed", "call status poll failed; retrying", "call status polling stopped")
		})
	}
}

// loggedCallPass is a CallPass client of the API at url whose token is
// the one a spelling quotes a piece of, logging at debug level.
func loggedCallPass(t *testing.T, url string) (*callpass.Client, *testenv.LogBuffer) {
	t.Helper()
	logs := &testenv.LogBuffer{}
	client, err := callpass.New(callpass.Config{BaseURL: url, Token: testenv.SpellingsToken, APIVersion: 3, Async: true,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return client, logs
}

// checkLines checks that logs has each of want's lines and that none of
// its lines quotes the provider's text ("gone") with the number's digits
// in order (any script) or a piece of the token.
func checkLines(t *testing.T, logs string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(logs, w) {
			t.Errorf("no %q line:\n%s", w, logs)
		}
	}
	if !strings.Contains(logs, "gone") {
		t.Errorf("no line quotes the provider's text, the test misses its path:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if anyScriptDigitsIn(line, testenv.DestinationNational) || strings.Contains(line, testenv.SpellingsToken[:12]) {
			t.Errorf("log line carries a secret: %s", line)
		}
	}
}

// anyScriptDigitsIn is digitsIn with the digits of every script and digit
// form read as ASCII ("７" and "⁷" as 7, see testenv.ReadDigits): slog
// writes them unescaped.
func anyScriptDigitsIn(s, want string) bool {
	return strings.Contains(testenv.ReadDigits(s), want)
}
