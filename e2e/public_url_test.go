package e2e_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestWrongKratosPublicURLIsAFailure: a kratos.public_url that misses
// Kratos's public API by a path (a proxy prefix left on, or missing) gets
// 404 from whoami for every session. Kratos answers an unknown session with
// 401, never 404, so this is the service misconfigured: /v1/token answers
// 502 kratos_unavailable (a failure, logged as one), not 404 not_found,
// which an app reads as its own mistake and nobody is told about.
func TestWrongKratosPublicURLIsAFailure(t *testing.T) {
	k := testenv.StartKratos(t, testenv.KratosOptions{})
	const email = "vera@example.com"
	k.CreateIdentity(t, email, testPassword, "+79006667788")
	login, err := k.APILogin(context.Background(), email, testPassword, nil)
	if err != nil || login.SessionToken == "" {
		t.Fatalf("login: %v %+v", err, login)
	}
	svc := startSolo(t, soloOptions{KratosURL: k.PublicURL + "/kratos"})
	status, body := postJSON(t, http.MethodPost, svc.URL+"/v1/token", nil, map[string]string{"X-Session-Token": login.SessionToken})
	if status != http.StatusBadGateway || body["error"] != "kratos_unavailable" {
		t.Fatalf("/v1/token with a public URL that misses the API: %d %v, want 502 kratos_unavailable", status, body)
	}
}
