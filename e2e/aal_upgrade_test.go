package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestTokenAfterKratosAALUpgrade: a user with a Kratos second factor
// (lookup secrets here; TOTP and WebAuthn behave alike) logs in with the
// password through the gate, then completes the Kratos second factor (a
// login flow with aal=aal2 on the same session). Kratos sets the session's
// authenticated_at anew on that upgrade and runs no password hook, so no new
// gate pass is written; the exchange finds the login's pass by the password
// method's completed_at, which the upgrade leaves as it was. Before the
// upgrade whoami refuses the session (required_aal: highest_available), and
// so does /v1/token.
func TestTokenAfterKratosAALUpgrade(t *testing.T) {
	st := startStack(t, stackOptions{KratosConfig: map[string]any{
		"selfservice": map[string]any{"methods": map[string]any{"lookup_secret": map[string]any{"enabled": true}}},
	}})
	svc := st.Services[0].URL
	const email, dn = "lidia@example.com", "79003330011"
	id := st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)

	// A gated login, then the user enrols lookup secrets in settings.
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	codes := enrolLookupSecrets(t, st.Kratos.PublicURL, tok)

	// The next login: the gate, then Kratos's own second factor.
	tok, err = loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"X-Session-Token": tok}
	// Refused, and saying why: the app must send the user to Kratos's own
	// second factor (a step-up would be refused the same way), which a bare
	// "forbidden" does not tell apart from a session that skipped the call.
	for _, path := range []string{"/v1/token", "/v1/challenges"} {
		status, body := postJSON(t, http.MethodPost, svc+path, nil, auth)
		if status != http.StatusForbidden || body["error"] != "forbidden" || body["reason"] != "aal2_required" {
			t.Fatalf("%s before the aal2 upgrade: %d %v, want 403 forbidden with reason aal2_required "+
				"(whoami answers only at the highest AAL available)", path, status, body)
		}
	}
	// The /2fa page says it too, with the way on: Kratos's aal2 login.
	req, err := http.NewRequest(http.MethodGet, svc+"/2fa?lang=en&challenge=c1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Session-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	wantLink := "/self-service/login/browser?aal=aal2&amp;return_to="
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") ||
		!bytes.Contains(page, []byte(wantLink)) {
		t.Fatalf("/2fa before the aal2 upgrade: %d %q, want a 403 page linking to Kratos's aal2 login (%s):\n%s",
			resp.StatusCode, resp.Header.Get("Content-Type"), wantLink, page)
	}
	whoami(t, st.Kratos.PublicURL, tok, http.StatusForbidden)
	// The user takes a moment to find a code: more than the 1 s the pass
	// matching allows between the hook's authenticated_at and the session's.
	time.Sleep(1500 * time.Millisecond)
	upgradeWithLookupSecret(t, st.Kratos.PublicURL, tok, codes[0])
	after := whoami(t, st.Kratos.PublicURL, tok, http.StatusOK)
	if after.AAL != "aal2" || len(after.Methods) != 2 || after.Methods[0].Method != "password" {
		t.Fatalf("after the upgrade: aal %q methods %+v", after.AAL, after.Methods)
	}
	if moved := after.AuthenticatedAt.Sub(after.Methods[0].CompletedAt); moved < time.Second {
		t.Fatalf("authenticated_at moved %s on the upgrade, want more than the pass tolerance (1 s)", moved)
	}
	t.Logf("after the upgrade: authenticated_at %s, methods %+v", after.AuthenticatedAt, after.Methods)

	status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, auth)
	if status != http.StatusOK {
		t.Fatalf("/v1/token after the aal2 upgrade of a gated login: %d %v, want 200", status, body)
	}
	v, err := jwt.NewVerifier(jwt.VerifierConfig{JWKSURL: svc + "/.well-known/jwks.json", Issuer: svc, Audience: "callpass-kratos"})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatalf("token does not verify via JWKS: %v", err)
	}
	if claims.Subject != id || claims.Sid != after.ID || claims.PhoneNumber != "+"+dn || !slices.Contains(claims.AMR, "tel") {
		t.Errorf("claims: sub %q sid %q phone %q amr %v", claims.Subject, claims.Sid, claims.PhoneNumber, claims.AMR)
	}

	// The upgraded session exchanging again holds the pass.
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, auth); status != http.StatusOK {
		t.Fatalf("second exchange of the upgraded session: %d %v", status, body)
	}
}

// whoamiAnswer is the part of Kratos's session this test reads.
type whoamiAnswer struct {
	ID              string    `json:"id"`
	AAL             string    `json:"authenticator_assurance_level"`
	AuthenticatedAt time.Time `json:"authenticated_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	Methods         []struct {
		Method      string    `json:"method"`
		CompletedAt time.Time `json:"completed_at"`
	} `json:"authentication_methods"`
}

// whoami reads the session behind tok from Kratos and checks the status.
func whoami(t *testing.T, kratosURL, tok string, want int) whoamiAnswer {
	t.Helper()
	status, raw := rawRequest(t, http.MethodGet, kratosURL+"/sessions/whoami", nil, 0,
		map[string]string{"X-Session-Token": tok, "Accept": "application/json"})
	if status != want {
		t.Fatalf("whoami: %d %s, want %d", status, raw, want)
	}
	var w whoamiAnswer
	if status == http.StatusOK {
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatalf("whoami: %v", err)
		}
	}
	return w
}

// kratosAPI sends a JSON request (nil body: none) to Kratos with the
// session token and returns the status and the raw answer.
func kratosAPI(t *testing.T, method, u, tok string, body any) (int, []byte) {
	t.Helper()
	hdr := map[string]string{"X-Session-Token": tok, "Accept": "application/json"}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
		hdr["Content-Type"] = "application/json"
	}
	return rawRequest(t, method, u, rd, 0, hdr)
}

// apiFlowID creates a self-service API flow (settings, or login with
// query) for the session and returns its id.
func apiFlowID(t *testing.T, u, tok string) string {
	t.Helper()
	status, raw := kratosAPI(t, http.MethodGet, u, tok, nil)
	var f struct {
		ID string `json:"id"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &f) != nil || f.ID == "" {
		t.Fatalf("GET %s: %d %s", u, status, raw)
	}
	return f.ID
}

// enrolLookupSecrets generates and confirms lookup secrets for the session
// through the settings API and returns them.
func enrolLookupSecrets(t *testing.T, kratosURL, tok string) []string {
	t.Helper()
	flow := apiFlowID(t, kratosURL+"/self-service/settings/api", tok)
	submit := kratosURL + "/self-service/settings?flow=" + url.QueryEscape(flow)
	status, raw := kratosAPI(t, http.MethodPost, submit, tok, map[string]any{"method": "lookup_secret", "lookup_secret_regenerate": true})
	if status != http.StatusOK {
		t.Fatalf("regenerate lookup secrets: %d %s", status, raw)
	}
	var f struct {
		UI struct {
			Nodes []struct {
				Attributes struct {
					ID   string `json:"id"`
					Text struct {
						Context struct {
							Secrets []struct {
								Text string `json:"text"`
							} `json:"secrets"`
						} `json:"context"`
					} `json:"text"`
				} `json:"attributes"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("settings flow: %v", err)
	}
	var codes []string
	for _, n := range f.UI.Nodes {
		if n.Attributes.ID == "lookup_secret_codes" {
			for _, s := range n.Attributes.Text.Context.Secrets {
				codes = append(codes, s.Text)
			}
		}
	}
	if len(codes) == 0 {
		t.Fatalf("no lookup secrets in the settings flow: %s", raw)
	}
	status, raw = kratosAPI(t, http.MethodPost, submit, tok, map[string]any{"method": "lookup_secret", "lookup_secret_confirm": true})
	if status != http.StatusOK {
		t.Fatalf("confirm lookup secrets: %d %s", status, raw)
	}
	return codes
}

// upgradeWithLookupSecret completes an aal2 login flow for the session with
// a lookup secret.
func upgradeWithLookupSecret(t *testing.T, kratosURL, tok, code string) {
	t.Helper()
	flow := apiFlowID(t, kratosURL+"/self-service/login/api?aal=aal2", tok)
	status, raw := kratosAPI(t, http.MethodPost, kratosURL+"/self-service/login?flow="+url.QueryEscape(flow), tok,
		map[string]any{"method": "lookup_secret", "lookup_secret": code})
	if status != http.StatusOK {
		t.Fatalf("aal2 login with a lookup secret: %d %s", status, raw)
	}
}
