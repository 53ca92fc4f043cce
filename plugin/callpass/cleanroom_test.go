package callpass_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/cleanroomcp"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// The tests in this file run the client against internal/cleanroomcp, a
// CallPass server written only from the provider's documents by someone who
// had not read this package or its simulator. Each variant is a reading of
// the documents a real provider may have chosen.

const cleanToken = "5f2b9c0e7d1a4b3c8e6f0a9d2c4b7e1f"

func cleanClient(t *testing.T, s *cleanroomcp.Server, version int, async bool, codeLen int) *callpass.Client {
	t.Helper()
	c, err := callpass.New(callpass.Config{BaseURL: s.URL(), Token: cleanToken, APIVersion: version,
		Timeout: 5 * time.Second, CodeLength: codeLen, Async: async})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cleanNumber(t *testing.T) phone.Number {
	t.Helper()
	n, err := phone.Parse("+7 999 123-45-67")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCleanRoomProvider: a call placed and, where the API has a status
// method, followed to its end, on every version and every reading of the
// documents the clean-room server offers. Every request the client sends
// passes the server's strict header checks (Content-Type, Content-Length),
// exactly one start request reaches it, and the code is what the user
// would read off the caller ID.
func TestCleanRoomProvider(t *testing.T) {
	type tc struct {
		name    string
		version int
		async   bool
		codeLen int // client's code length (v3)
		v       cleanroomcp.Variant
	}
	var cases []tc
	for _, version := range []int{1, 2, 3} {
		for _, async := range []bool{false, true} {
			if version == 1 && async {
				continue
			}
			cases = append(cases, tc{fmt.Sprintf("v%d async=%v", version, async), version, async, 4, cleanroomcp.Variant{}})
		}
	}
	for _, param := range []string{"", "callid", "callId"} {
		for _, slash := range []string{"", "with", "without"} {
			for _, unknown := range []bool{false, true} {
				for _, version := range []int{2, 3} {
					cases = append(cases, tc{fmt.Sprintf("v%d status param %q slash %q missing-is-unknown %v", version, param, slash, unknown),
						version, true, 4, cleanroomcp.Variant{StatusParam: param, StatusSlash: slash, MissingParamUnknown: unknown, PendingPolls: 2}})
				}
			}
		}
	}
	cases = append(cases,
		tc{"v1 five-digit pin", 1, false, 4, cleanroomcp.Variant{CodeLength: 5}},
		tc{"v2 five-digit phone", 2, true, 4, cleanroomcp.Variant{CodeLength: 5}},
		tc{"v2 code as pin", 2, true, 4, cleanroomcp.Variant{V2CodeField: "pin"}},
		tc{"v2 sync code as pin", 2, false, 4, cleanroomcp.Variant{V2CodeField: "pin", CodeLength: 5}},
		tc{"v3 five-digit code", 3, true, 5, cleanroomcp.Variant{}},
		tc{"v3 seven-digit code", 3, true, 7, cleanroomcp.Variant{}},
		tc{"v3 sync six-digit code", 3, false, 6, cleanroomcp.Variant{}},
		tc{"busy", 3, true, 4, cleanroomcp.Variant{FinalStatus: "USER_BUSY"}},
		tc{"answered", 2, false, 4, cleanroomcp.Variant{FinalStatus: "NORMAL_CLEARING"}},
		tc{"absent", 3, true, 4, cleanroomcp.Variant{FinalStatus: "SUBSCRIBER_ABSENT", PendingPolls: 1}},
		tc{"unknown cause", 3, true, 4, cleanroomcp.Variant{FinalStatus: "SOME_NEW_CAUSE"}},
		tc{"v1 unknown cause", 1, false, 4, cleanroomcp.Variant{FinalStatus: "SOME_NEW_CAUSE"}},
	)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			tt.v.StrictHeaders = true
			s := cleanroomcp.New(t, cleanToken, tt.v)
			c := cleanClient(t, s, tt.version, tt.async, tt.codeLen)
			ctx := context.Background()
			call, err := c.StartCall(ctx, cleanNumber(t))
			if err != nil {
				t.Fatalf("StartCall: %v", err)
			}
			placed := s.Calls()
			if len(placed) != 1 || s.StartRequests() != 1 {
				t.Fatalf("%d calls placed from %d start requests, want 1 and 1", len(placed), s.StartRequests())
			}
			pc := placed[0]
			if pc.DN != "79991234567" || pc.Version != tt.version || pc.Timeout != 5 {
				t.Errorf("provider saw dn %q, version %d, timeout %d", pc.DN, pc.Version, pc.Timeout)
			}
			wantCode := pc.Code
			if tt.version == 3 {
				wantCode = pc.Code[len(pc.Code)-tt.codeLen:]
			}
			if call.ID != pc.CallID || call.Code != wantCode || !strings.HasSuffix(pc.CallerID, call.Code) {
				t.Fatalf("call %+v, want id %s and code %s (caller ID %s)", call, pc.CallID, wantCode, pc.CallerID)
			}
			final := tt.v.FinalStatus
			if final == "" {
				final = "NO_ANSWER"
			}
			wantClass := flashcall.Classify(final).Class
			if !c.CanReportStatus() || pc.Async == false {
				if pc.Async != (tt.async && tt.version > 1) {
					t.Errorf("provider saw async %v", pc.Async)
				}
				// A synchronous start answers with the outcome.
				if call.Status.Raw != final || call.Status.Class != wantClass {
					t.Errorf("synchronous start status %+v, want %s", call.Status, final)
				}
				if !c.CanReportStatus() {
					return
				}
			} else if call.Status.Class != flashcall.ClassPending {
				t.Errorf("asynchronous start status %+v, want pending", call.Status)
			}
			// Poll as the service does, until the status is final.
			var st flashcall.Status
			for i := 0; ; i++ {
				if i > tt.v.PendingPolls+1 {
					t.Fatalf("no final status after %d polls: %+v", i, st)
				}
				st, err = c.CallStatus(ctx, call.ID, cleanNumber(t))
				if err != nil {
					t.Fatalf("CallStatus %d: %v", i, err)
				}
				if st.Class != flashcall.ClassPending {
					break
				}
			}
			if st.Raw != final || st.Class != wantClass {
				t.Errorf("final status %+v, want %s (%v)", st, final, wantClass)
			}
			// Once the form is known, each poll is one request.
			before := len(s.Requests())
			if _, err := c.CallStatus(ctx, call.ID, cleanNumber(t)); err != nil {
				t.Fatalf("status again: %v", err)
			}
			if n := len(s.Requests()) - before; n != 1 {
				t.Errorf("a status after the form was learned took %d requests, want 1", n)
			}
			for _, r := range s.Requests() {
				if r.Auth != "Bearer "+cleanToken || r.Method != "POST" {
					t.Errorf("request %s %s with Authorization %q", r.Method, r.Path, r.Auth)
				}
			}
		})
	}
}

// TestCleanRoomRefusals: the documented refusals, typed so that the service
// can tell the user and the admin what happened; none of them is retried
// into a second start request.
func TestCleanRoomRefusals(t *testing.T) {
	tests := []struct {
		name  string
		token string // the server's token; the client always sends cleanToken
		v     cleanroomcp.Variant
		want  error
	}{
		{"balance too low (level-1 message with success)", cleanToken, cleanroomcp.Variant{BalanceLow: true}, flashcall.ErrInsufficientBalance},
		{"wrong token", strings.Repeat("ab", 16), cleanroomcp.Variant{}, flashcall.ErrUnauthorized},
	}
	for _, tt := range tests {
		for _, version := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s v%d", tt.name, version), func(t *testing.T) {
				tt.v.StrictHeaders = true
				s := cleanroomcp.New(t, tt.token, tt.v)
				c := cleanClient(t, s, version, true, 4)
				_, err := c.StartCall(context.Background(), cleanNumber(t))
				if !errors.Is(err, tt.want) {
					t.Fatalf("StartCall: %v, want %v", err, tt.want)
				}
				if len(s.Calls()) != 0 || s.StartRequests() != 1 {
					t.Fatalf("%d calls from %d start requests, want 0 from 1", len(s.Calls()), s.StartRequests())
				}
			})
		}
	}
	// An unknown call is "not found" whichever parameter names the
	// provider reads, also when asking under the other name is refused.
	for _, param := range []string{"", "callid", "callId"} {
		t.Run("unknown call id, status param "+param, func(t *testing.T) {
			s := cleanroomcp.New(t, cleanToken, cleanroomcp.Variant{StatusParam: param, StrictHeaders: true})
			c := cleanClient(t, s, 3, true, 4)
			if _, err := c.CallStatus(context.Background(), "4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d", cleanNumber(t)); !errors.Is(err, flashcall.ErrCallNotFound) {
				t.Fatalf("CallStatus: %v, want the call not found", err)
			}
		})
	}
}

// TestNotPlaced: which failed starts provably placed no call. The request
// never left, or the API refused it before the method ran, or the method
// refused it for a reason that precedes any call; not a method failure
// without such a reason (it may follow a call that rang), not a 5xx, not a
// page that is not the API's.
func TestNotPlaced(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
		want   bool
	}{
		{"level 1 refusal", 400, "application/json", `{"status":"error","message":"invalid dn"}`, true},
		{"balance sample", 200, "application/json", `{"status":"success","message":"balance is lower than limit for that call"}`, true},
		{"wrong token", 401, "application/json", `{"status":"error","message":"invalid token"}`, true},
		{"throttled", 429, "application/json", `{"status":"error","message":"too many requests"}`, true},
		{"destination not allowed", 200, "application/json", `{"data":{"message":"destination not allowed","result":"error"},"status":"success"}`, true},
		{"method balance refusal", 200, "application/json", `{"data":{"message":"insufficient balance","result":"error"},"status":"success"}`, true},
		{"method failed, no reason", 200, "application/json", `{"data":{"result":"error"},"status":"success"}`, false},
		{"method failed: call failed", 200, "application/json", `{"data":{"message":"call failed","result":"error"},"status":"success"}`, false},
		{"API JSON 500", 500, "application/json", `{"status":"error","message":"internal error"}`, false},
		{"HTML 502", 502, "text/html", "<h1>502</h1>", false},
		{"HTML 200", 200, "text/html", "<html>maintenance</html>", false},
		// The IP allow-list ("запросы принимаются только с IP, указанных в
		// личном кабинете") or the token refused in front of the API, which
		// never saw the request: an nginx page, an empty body.
		{"allow-list page 403", 403, "text/html", "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", true},
		{"empty 401", 401, "", "", true},
		// The API's own envelope saying a call was placed, under a 403: the
		// answer contradicts itself, and a call may have been placed.
		{"success envelope 403", 403, "application/json", `{"data":{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","phone":"2214610","result":"null"},"status":"success"}`, false},
		{"success without data 403", 403, "application/json", `{"status":"success"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			c, err := callpass.New(callpass.Config{BaseURL: srv.URL, Token: cleanToken, APIVersion: 3, Timeout: 5 * time.Second, Async: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.StartCall(context.Background(), cleanNumber(t))
			if err == nil {
				t.Fatal("the start succeeded")
			}
			if got := flashcall.NotPlaced(err); got != tt.want {
				t.Errorf("NotPlaced(%v) = %v, want %v", err, got, tt.want)
			}
			if flashcall.NotSent(err) {
				t.Errorf("NotSent(%v): the request reached the server", err)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c, err := callpass.New(callpass.Config{BaseURL: url, Token: cleanToken, APIVersion: 3, Timeout: 5 * time.Second, Async: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.StartCall(context.Background(), cleanNumber(t))
		if !flashcall.NotPlaced(err) || !flashcall.NotSent(err) {
			t.Errorf("connection refused: NotPlaced %v NotSent %v, want both (%v)", flashcall.NotPlaced(err), flashcall.NotSent(err), err)
		}
	})
}
