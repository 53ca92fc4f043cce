package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// hookAnswer is the part of a Kratos hook's interrupt the tests read.
type hookAnswer struct {
	Messages []struct {
		InstancePtr string `json:"instance_ptr"`
		Messages    []struct {
			ID      int            `json:"id"`
			Text    string         `json:"text"`
			Context map[string]any `json:"context"`
		} `json:"messages"`
	} `json:"messages"`
}

// TestHookAnswersAreEachTheirOwn: many users at once through the login hook
// of the real factor (memory store), each its own identity, number, flow
// and address. The request state, the calling interrupt's buffer and the
// refusals' map and buffer are lent from pools: every answer must be its
// own user's, the challenge its start named and the attempts its own wrong
// codes left (60 attempts: the first 27 refusals are rendered into the lent
// buffer, the rest come from the cache), never another request's. Run with
// -race it also catches a pooled object read after it was given back.
func TestHookAnswersAreEachTheirOwn(t *testing.T) {
	const users, guesses, attempts = 24, 30, 60
	f := newTabsFactor(t, &tabsProvider{}, func(c *challenge.Config) { c.MaxAttempts = attempts })
	h := newServer(t, f, nil)
	hdr := map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}
	body := func(u int, code string) string {
		tp := `{}`
		if code != "" {
			tp = `{"callpass_code":"` + code + `"}`
		}
		return fmt.Sprintf(`{"flow_id":"11111111-2222-4333-8444-%012d","flow_type":"api","identity_id":"aaaaaaaa-bbbb-4ccc-8ddd-%012d",`+
			`"traits":{"phone":"+7900%07d"},"metadata_public":null,"transient_payload":%s,"client_ip":"192.0.2.%d"}`, u, u, 1000000+u*37, tp, u+1)
	}
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			post := func(code string) (int, hookAnswer, string) {
				w := do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", hdr: hdr, body: strings.NewReader(body(u, code))})
				var a hookAnswer
				if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || len(a.Messages) != 1 || len(a.Messages[0].Messages) != 1 {
					t.Errorf("user %d: %d %q: not one message (%v)", u, w.Code, w.Body, err)
					return w.Code, a, w.Body.String()
				}
				return w.Code, a, w.Body.String()
			}
			code, a, raw := post("")
			if code != http.StatusBadRequest || len(a.Messages) != 1 {
				t.Errorf("user %d: start %d %s", u, code, raw)
				return
			}
			m := a.Messages[0].Messages[0]
			id, _ := m.Context["challenge_id"].(string)
			masked, _ := m.Context["phone_masked"].(string)
			if id == "" || !strings.HasSuffix(masked, fmt.Sprintf("%02d", (1000000+u*37)%100)) || !strings.Contains(m.Text, masked) ||
				m.Context["attempts_left"] != float64(attempts) {
				t.Errorf("user %d: start answered %s", u, raw)
				return
			}
			for g := 1; g <= guesses; g++ {
				code, a, raw := post("9999")
				if code != http.StatusBadRequest || len(a.Messages) != 1 {
					t.Errorf("user %d, guess %d: %d %s", u, g, code, raw)
					return
				}
				m := a.Messages[0].Messages[0]
				left := float64(attempts - g)
				if m.Context["attempts_left"] != left || !strings.Contains(m.Text, fmt.Sprint(attempts-g)) {
					t.Errorf("user %d, guess %d: want %v attempts left, answered %s", u, g, left, raw)
					return
				}
			}
		})
	}
	wg.Wait()
}

// tokenSessions answers whoami with a session of its own for each session
// token "user-<n>": identity n, number +7900<1000000+37n>.
type tokenSessions struct{}

func (tokenSessions) Session(_ context.Context, _, token string) (*kratos.Session, error) {
	var u int
	if _, err := fmt.Sscanf(token, "user-%d", &u); err != nil {
		return nil, kratos.ErrNoSession
	}
	now := time.Now()
	return &kratos.Session{ID: fmt.Sprint("sess-", u), IdentityID: fmt.Sprint("ident-", u), Active: true,
		AuthenticatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour),
		Traits: map[string]any{"phone": fmt.Sprintf("+7900%07d", 1000000+u*37)}}, nil
}

// TestAPIAnswersAreEachTheirOwn: many sessions at once through the step-up
// API of the real factor (memory store): each starts its challenge and
// sends wrong codes. A refusal's context and body are lent (handleError):
// every answer must carry its own request id and the attempts its own wrong
// codes left, and a start its own challenge, never another request's.
func TestAPIAnswersAreEachTheirOwn(t *testing.T) {
	const users, guesses, attempts = 24, 30, 60
	f := newMemFactor(t, &tabsProvider{}, nil, func(l *limit.Config) {
		l.PerIP.Limit = 0 // every test request comes from one address
	}, tokenSessions{}, func(c *challenge.Config) { c.MaxAttempts = attempts })
	h := newServer(t, f, nil)
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			post := func(path, body, rid string) (int, map[string]any, string) {
				hdr := map[string]string{"X-Session-Token": fmt.Sprint("user-", u), "Content-Type": "application/json", "X-Request-ID": rid}
				w := do(h, reqSpec{method: http.MethodPost, path: path, hdr: hdr, body: strings.NewReader(body)})
				var a map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
					t.Errorf("user %d: %s: %d %q: %v", u, path, w.Code, w.Body, err)
				}
				return w.Code, a, w.Body.String()
			}
			code, a, raw := post("/v1/challenges", `{}`, fmt.Sprintf("start-%d", u))
			id, _ := a["challenge_id"].(string)
			masked, _ := a["phone_masked"].(string)
			if code != http.StatusCreated || id == "" || !strings.HasSuffix(masked, fmt.Sprintf("%02d", (1000000+u*37)%100)) {
				t.Errorf("user %d: start %d %s", u, code, raw)
				return
			}
			for g := 1; g <= guesses; g++ {
				rid := fmt.Sprintf("u%d-g%d", u, g)
				code, a, raw := post("/v1/challenges/"+id+"/verify", `{"code":"9999"}`, rid)
				if a["error"] != "wrong_code" || a["attempts_left"] != float64(attempts-g) || a["request_id"] != rid ||
					!strings.Contains(fmt.Sprint(a["message"]), fmt.Sprint(attempts-g)) || a["retry_after"] != nil {
					t.Errorf("user %d, guess %d: want %d attempts left and request id %s, answered %d %s", u, g, attempts-g, rid, code, raw)
					return
				}
			}
		})
	}
	wg.Wait()
}
