package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// savingRecorder is a recorder whose factor also ends a saved
// registration's proof, so the server mounts /hooks/kratos/registered.
type savingRecorder struct {
	recorder
	saved []factor.GateInput
}

func (r *savingRecorder) RegistrationSaved(ctx context.Context, in factor.GateInput) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saved = append(r.saved, in)
	return r.err
}

// TestRegisteredHookNeedsTheSecret: the hook after a registration's save
// ends a flow's proof, which whoever could call it could use to make a
// user's resubmit place a second call; it sits behind the webhook secret
// as the other hooks do: without it or with another one it is 401 and the
// factor is not asked; with it the answer is 200 {}.
func TestRegisteredHookNeedsTheSecret(t *testing.T) {
	tests := []struct {
		name     string
		auth     string
		wantCode int
		wantSave int
	}{
		{"no secret", "", http.StatusUnauthorized, 0},
		{"another secret", "Bearer " + strings.Repeat("x", len(secret)), http.StatusUnauthorized, 0},
		{"the secret", "Bearer " + secret, http.StatusOK, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &savingRecorder{}
			hdr := map[string]string{"Content-Type": "application/json"}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			code, _, body := postHook(newServer(t, rec, nil), "/hooks/kratos/registered", hdr, validBody())
			if code != tt.wantCode || len(rec.saved) != tt.wantSave {
				t.Fatalf("answer %d %s, %d saves; want %d, %d saves", code, body, len(rec.saved), tt.wantCode, tt.wantSave)
			}
			if code == http.StatusOK && strings.TrimSpace(body) != "{}" {
				t.Errorf("body %q, want {}", body)
			}
		})
	}
}
