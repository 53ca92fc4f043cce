package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestHookClientIPIsAnAddress: a hook's client_ip reaches the per-IP limit
// and the log only as an address. It is whatever the client sent as
// True-Client-IP unless the proxy in front of Kratos overwrites it
// (SECURITY.md), and it was passed on as sent: each spelling of one
// address (a port, brackets, a zone, upper case) was a per-IP counter of
// its own, so one client could count as many; garbage, a list or a phone
// number went into the log as it was, up to the 64 KiB body. Now it is the
// address alone, canonical, and anything that is not one is "", as when
// the template sends none (registration): never refused.
func TestHookClientIPIsAnAddress(t *testing.T) {
	tests := []struct {
		name, sent, want string
	}{
		{"IPv4", "192.0.2.1", "192.0.2.1"},
		{"IPv6", "2001:db8::1", "2001:db8::1"},
		{"none", "", ""},
		{"IPv4 with a port", "192.0.2.1:53412", "192.0.2.1"},
		{"IPv6 with a port", "[2001:db8::1]:443", "2001:db8::1"},
		{"IPv6 in brackets", "[2001:db8::1]", "2001:db8::1"},
		{"IPv6 not canonical", "2001:DB8:0:0::0001", "2001:db8::1"},
		{"IPv6 with a zone", "fe80::1%eth0", "fe80::1"},
		{"IPv6 with a zone and a port", "[fe80::1%eth0]:80", "fe80::1"},
		{"a zone of garbage", "fe80::1%" + strings.Repeat("z", 60), "fe80::1"},
		{"IPv4-mapped", "::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"a list", "192.0.2.1, 198.51.100.7", ""},
		{"a list without spaces", "192.0.2.1,198.51.100.7", ""},
		{"a name", "client.example.com", ""},
		{"garbage", "not an address", ""},
		{"a phone number", "+79001234567", ""},
		{"a forged log line", "192.0.2.1\nlevel=ERROR msg=forged", ""},
		{"spaces around", " 192.0.2.1 ", ""},
		{"a port alone", ":53412", ""},
		{"very long", strings.Repeat("1", 10000), ""},
		{"very long address-like", "2001:db8::" + strings.Repeat("0", 200) + "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent, _ := json.Marshal(tt.sent)
			body := bytes.Replace(validBody(), []byte(`"client_ip":"192.0.2.1"`), []byte(`"client_ip":`+string(sent)), 1)
			var logs bytes.Buffer
			rec := &recorder{decision: factor.GateDecision{Allow: true}}
			code, _, answer := postHook(newServer(t, rec, &logs), "/hooks/kratos/login", hookHdr(), body)
			if code != http.StatusOK || len(rec.gateIn) != 1 {
				t.Fatalf("answer %d %s, %d gate calls: a client_ip must never refuse the hook", code, answer, len(rec.gateIn))
			}
			if got := rec.gateIn[0].ClientIP; got != tt.want {
				t.Errorf("the gate got client_ip %q, want %q", got, tt.want)
			}
			line := logs.String()
			switch {
			case tt.want != "" && !slices.Contains(strings.Fields(line), "client_ip="+tt.want):
				t.Errorf("request line without client_ip=%s:\n%s", tt.want, line)
			case tt.want == "" && strings.Contains(line, "client_ip="):
				t.Errorf("request line with a client_ip for %q:\n%s", tt.sent, line)
			}
			if strings.Count(line, "\n") != 1 {
				t.Errorf("want one log line:\n%s", line)
			}
		})
	}
}
