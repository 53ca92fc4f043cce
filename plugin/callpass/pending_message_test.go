package callpass

import (
	"context"
	"errors"
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
