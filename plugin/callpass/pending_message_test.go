package callpass

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// TestStartMessageBesidePendingResult: a start answer carrying no call (no
// id, no code) and no status yet ("result":"null", null or ""), beside a
// message that names what went wrong, is the refusal the message names, as
// the balance sample without data is: another implementation of the API
// sends that sample with "data":{"result":"null"}. It was a start without
// a code (bad_response), so the request's outcome was not
// insufficient_balance (CallPassProviderRejectsCredentials never fired)
// and the limits stayed counted. A message that names nothing, or an
// answer that carries a call, is read as before.
func TestStartMessageBesidePendingResult(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		kind    error // nil: a placed call
		placed  bool  // NotPlaced() false
		outcome string
	}{
		{"balance, result \"null\"", `{"status":"success","message":"balance is lower than limit for that call","data":{"result":"null"}}`,
			flashcall.ErrInsufficientBalance, false, OutcomeInsufficientBalance},
		{"balance, result null", `{"status":"success","message":"balance is lower than limit for that call","data":{"result":null}}`,
			flashcall.ErrInsufficientBalance, false, OutcomeInsufficientBalance},
		{"balance, result empty", `{"status":"success","message":"balance is lower than limit for that call","data":{"result":""}}`,
			flashcall.ErrInsufficientBalance, false, OutcomeInsufficientBalance},
		{"balance in Russian", `{"status":"success","message":"Недостаточно средств на балансе","data":{"result":"null"}}`,
			flashcall.ErrInsufficientBalance, false, OutcomeInsufficientBalance},
		{"token refused", `{"status":"success","message":"invalid token","data":{"result":"null"}}`,
			flashcall.ErrUnauthorized, false, OutcomeUnauthorized},
		{"destination refused", `{"status":"success","message":"destination not allowed","data":{"result":"null"}}`,
			flashcall.ErrDestinationNotAllowed, false, OutcomeDestinationNotAllowed},
		{"balance in data", `{"status":"success","data":{"result":"null","message":"balance is lower than limit for that call"}}`,
			flashcall.ErrInsufficientBalance, false, OutcomeInsufficientBalance},
		// A message that names nothing: still a start without a code.
		{"message names nothing", `{"status":"success","message":"call queued","data":{"result":"null"}}`,
			flashcall.ErrBadResponse, true, OutcomeOK},
		// A call id or a code is a call, whatever message sits beside it.
		{"a call beside the message", `{"status":"success","message":"balance is lower than limit for that call","data":{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","phone":"2214610","result":"null"}}`,
			nil, true, OutcomeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &countingObserver{}
			p := newProvider(t, jsonAnswer(tt.body))
			c := newTestClient(t, p.srv.URL, 3, func(cfg *Config) { cfg.Observer = obs })
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if tt.kind == nil {
				if err != nil || call.Code != "4610" {
					t.Fatalf("StartCall = %+v, %v: want the placed call", call, err)
				}
			} else if !errors.Is(err, tt.kind) {
				t.Fatalf("StartCall error %v, want %v", err, tt.kind)
			}
			if err != nil && flashcall.NotPlaced(err) == tt.placed {
				t.Errorf("NotPlaced = %v, want %v", flashcall.NotPlaced(err), !tt.placed)
			}
			if got := obs.list(); len(got) != 1 || got[0] != "start/3/"+tt.outcome {
				t.Errorf("observed %v, want [start/3/%s]", got, tt.outcome)
			}
		})
	}
}

// TestStatusMessageBesidePendingResult: a status answer of the same shape
// is the same refusal, and a pending status beside a message that names
// nothing stays pending.
func TestStatusMessageBesidePendingResult(t *testing.T) {
	for body, want := range map[string]error{
		`{"status":"success","message":"balance is lower than limit for that call","data":{"result":"null"}}`: flashcall.ErrInsufficientBalance,
		`{"status":"success","message":"call in progress","data":{"result":"null"}}`:                          nil,
	} {
		p := newProvider(t, jsonAnswer(body))
		c := newTestClient(t, p.srv.URL, 3, nil)
		st, err := c.CallStatus(context.Background(), "58597b21-2a59-480a-a3f0-96a1eec77ae9", mustPhone(t))
		if want == nil {
			if err != nil || st.Class != flashcall.ClassPending {
				t.Errorf("%s: %+v, %v: want pending", body, st, err)
			}
			continue
		}
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "balance is lower") {
			t.Errorf("%s: %+v, %v: want %v quoting the message", body, st, err, want)
		}
	}
}

// TestFailedSynchronousStartWithoutCode: a start whose answer is the
// call's final status saying it did not reach the phone (a synchronous
// start: API v1, or v2/v3 with async=0) need not carry a code, since no
// phone showed one. It is ErrNotDelivered, a placed call (not NotPlaced),
// logged at Info; it was bad_response ("start answer has no usable code"),
// which told the user the call could not be placed. A final status that
// reached the phone without a code is still no usable answer, and a
// failed call with a code is a call as before.
func TestFailedSynchronousStartWithoutCode(t *testing.T) {
	const id = "527f2b9b-1124-4c6f-a5fb-b9b239d923e4"
	tests := []struct {
		name    string
		version int
		body    string
		kind    error // nil: a call is returned
	}{
		{"v1 unallocated", 1, `{"data":{"callid":"` + id + `","result":"UNALLOCATED_NUMBER"},"status":"success"}`, flashcall.ErrNotDelivered},
		{"v1 absent, no call id", 1, `{"data":{"result":"SUBSCRIBER_ABSENT"},"status":"success"}`, flashcall.ErrNotDelivered},
		{"v2 async=0 absent, empty pin", 2, `{"data":{"callid":"` + id + `","pin":"","result":"SUBSCRIBER_ABSENT"},"status":"success"}`, flashcall.ErrNotDelivered},
		{"v3 async=0 no route", 3, `{"data":{"callid":"` + id + `","phone":null,"result":"NO_ROUTE_DESTINATION"},"status":"success"}`, flashcall.ErrNotDelivered},
		// A status no list knows is a call that did not reach the phone.
		{"v1 unknown status", 1, `{"data":{"callid":"` + id + `","result":"NORMAL_UNSPECIFIED"},"status":"success"}`, flashcall.ErrNotDelivered},
		// The phone rang, but which code it showed is not said.
		{"v1 rang, no code", 1, `{"data":{"callid":"` + id + `","result":"NO_ANSWER"},"status":"success"}`, flashcall.ErrBadResponse},
		{"v1 success, no code", 1, `{"data":{"callid":"` + id + `","result":"success"},"status":"success"}`, flashcall.ErrBadResponse},
		{"v1 pending, no code", 1, `{"data":{"callid":"` + id + `","result":"null"},"status":"success"}`, flashcall.ErrBadResponse},
		{"v1 absent, with a code", 1, `{"data":{"callid":"` + id + `","pin":"0446","result":"SUBSCRIBER_ABSENT"},"status":"success"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			obs := &countingObserver{}
			p := newProvider(t, jsonAnswer(tt.body))
			c := newTestClient(t, p.srv.URL, tt.version, func(cfg *Config) {
				cfg.Async = false
				cfg.Observer = obs
				cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if tt.kind == nil {
				if err != nil || call.Code != "0446" || call.Status.Class != flashcall.ClassNotDelivered {
					t.Fatalf("StartCall = %+v, %v: want the call, not delivered", call, err)
				}
				return
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("StartCall error %v, want %v", err, tt.kind)
			}
			if flashcall.NotPlaced(err) {
				t.Errorf("NotPlaced: a call may have been placed")
			}
			if got := obs.list(); len(got) != 1 || got[0] != "start/"+strconv.Itoa(tt.version)+"/"+OutcomeOK {
				t.Errorf("observed %v: the answer was read", got)
			}
			if tt.kind == flashcall.ErrNotDelivered {
				if Outcome(err) != OutcomeNotDelivered || !strings.Contains(logs.String(), "level=INFO") {
					t.Errorf("outcome %q, log %s: want not_delivered at Info (a user's phone, no operator's problem)", Outcome(err), logs.String())
				}
			}
		})
	}
}
