package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
)

// TestSettingsAdminReadRefusedIsAnOutage: a settings save reads the stored
// number through kratos.admin_url (webhook.settings_confirm_current). When
// that read is refused, whatever the status (a proxy or gateway in front of
// the admin API answering 401 or 403, Kratos down), the save is refused as
// docs/operations.md says: 4090010 to the user, kratos_unavailable, and an
// error line for the admin naming the read. A 401 or 403 of the admin API
// is not the user's session (no_session, forbidden, with a Bearer challenge
// as for a wrong hook secret, and no error line at all).
func TestSettingsAdminReadRefusedIsAnOutage(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var reads atomic.Int32
			admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reads.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"error":{"code":` + strconv.Itoa(status) + `,"message":"refused"}}`))
			}))
			defer admin.Close()
			kc, err := kratos.New(kratos.Config{PublicURL: admin.URL, AdminURL: admin.URL})
			if err != nil {
				t.Fatal(err)
			}
			f, err := factor.New(factor.Config{PhoneTrait: "phone", ConfirmCurrent: true},
				factor.Deps{Numbers: phonetest.Hasher(), Challenges: provenChallenges{phone: "+79001234567"},
					Passes: noPasses{}, Identities: kc})
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			h := newServer(t, f, &logs)
			body := `{"flow_id":"` + flowID + `","flow_type":"browser","identity_id":"` + identityID + `",` +
				`"traits":{"phone":"+79001234567"},"metadata_public":{"phone_verified_number":"+79007654321"},` +
				`"transient_payload":{},"client_ip":"192.0.2.1","accept_language":"en"}`
			hdr := map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}
			w := do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/settings", hdr: hdr, body: strings.NewReader(body)})
			var ans struct {
				Messages []struct {
					Messages []hookMsg `json:"messages"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if reads.Load() == 0 {
				t.Fatal("the admin API was not asked")
			}
			if w.Code != http.StatusBadRequest || w.Header().Get("WWW-Authenticate") != "" ||
				len(ans.Messages) != 1 || len(ans.Messages[0].Messages) != 1 || ans.Messages[0].Messages[0].ID != 4090010 {
				t.Fatalf("answer %d %s (WWW-Authenticate %q), want 400 with 4090010",
					w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
			}
			if line := logs.String(); !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "kratos_unavailable") ||
				!strings.Contains(line, "kratos.admin_url") {
				t.Fatalf("log %q, want an error line naming kratos_unavailable and kratos.admin_url", line)
			}
		})
	}
}
