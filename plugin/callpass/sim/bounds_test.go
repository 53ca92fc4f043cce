package sim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

// TestRequestCounterKeysBounded: start requests are counted before the
// token is checked, so anyone who reaches the listener could add keys; a
// dn that is not a valid number counts in the total only, never as a key
// of its own (it used to keep up to 4 KB of digits a request).
func TestRequestCounterKeysBounded(t *testing.T) {
	s, srv := newSim(t, nil)
	const n = 50
	for i := range n {
		dn := fmt.Sprintf("%0*d", 3000, i) // 3000 digits, each body distinct
		r := post(t, srv, "/api/v1.0/start-call-password/", "dn="+dn+"&timeout=2",
			func(r *http.Request) { r.Header.Del("Authorization") })
		if r.code != http.StatusUnauthorized {
			t.Fatalf("request without a token: %d", r.code)
		}
	}
	post(t, srv, "/api/v1.0/start-call-password/", "dn=79001234567&timeout=2",
		func(r *http.Request) { r.Header.Del("Authorization") })
	by, total := s.RequestCounts()
	if total != n+1 {
		t.Errorf("total %d, want %d: every request counts", total, n+1)
	}
	for k := range by {
		if len(k) > 15 {
			t.Errorf("a %d-digit key was kept", len(k))
		}
	}
	if len(by) > 2 || s.Requests("79001234567") != 1 {
		t.Errorf("keys %d (want the valid number and the invalid bucket), valid number %d", len(by), s.Requests("79001234567"))
	}
}

// TestScriptsBounded: the control API (open without a token in dev mode)
// keeps at most sim.MaxScripts scripted numbers; beyond them a new number
// is refused with a clear message, while changing or removing a script
// still works.
func TestScriptsBounded(t *testing.T) {
	s, srv := newSim(t, nil)
	for i := range sim.MaxScripts - 1 {
		s.Script(fmt.Sprintf("7900%07d", i), sim.OutcomeBusy)
	}
	put := func(dn string) (int, string) {
		return ctl(t, srv, http.MethodPut, "/sim/scripts/"+dn, `{"outcome":"answered"}`)
	}
	if code, body := put("79990000001"); code != http.StatusOK {
		t.Fatalf("the last script within the bound: %d %s", code, body)
	}
	code, body := put("79990000002")
	if code != http.StatusInsufficientStorage || !strings.Contains(body, "too many scripted numbers") {
		t.Errorf("a script beyond the bound: %d %s, want 507 with a message", code, body)
	}
	if o := s.Outcome("79990000002"); o != sim.OutcomeNoAnswer { // the default
		t.Errorf("the refused script took effect: %s", o)
	}
	if code, _ := put("79990000001"); code != http.StatusOK {
		t.Errorf("changing an existing script at the bound: %d", code)
	}
	if code, _ := ctl(t, srv, http.MethodDelete, "/sim/scripts/79990000001", ""); code != http.StatusOK {
		t.Errorf("removing a script at the bound: %d", code)
	}
	if code, body := put("79990000002"); code != http.StatusOK {
		t.Errorf("a new script after one was removed: %d %s", code, body)
	}
}
