package systemd_test

import (
	"slices"
	"strings"
	"testing"
)

// TestUnitRunsAndStaysHardened checks what neither systemd-analyze verify
// nor the exposure score catches. The service does not send sd_notify, so
// a Type=notify unit would never finish starting; it listens on and dials
// TCP (Kratos, Redis, the provider), so the address families must keep
// AF_INET and AF_INET6. And each hardening directive stays: the score has
// room below maxExposure (a dropped NoNewPrivileges, ProtectSystem=full or
// PrivateUsers=no still scores "OK"), so it cannot hold them one by one.
func TestUnitRunsAndStaysHardened(t *testing.T) {
	ds := parseUnit(t, unitFile)
	if got := one(t, ds, "Service", "Type"); got != "exec" && got != "simple" {
		t.Errorf("Type=%s: the service sends no sd_notify readiness; want exec", got)
	}
	families := strings.Fields(one(t, ds, "Service", "RestrictAddressFamilies"))
	for _, f := range []string{"AF_INET", "AF_INET6"} {
		if !slices.Contains(families, f) {
			t.Errorf("RestrictAddressFamilies=%s lacks %s: the service could not listen or reach Redis and the provider", strings.Join(families, " "), f)
		}
	}
	for _, want := range []struct{ key, value string }{
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"PrivateUsers", "yes"},
		{"ProtectKernelTunables", "yes"},
		{"ProtectKernelModules", "yes"},
		{"ProtectControlGroups", "yes"},
		{"RestrictNamespaces", "yes"},
		{"RestrictSUIDSGID", "yes"},
		{"MemoryDenyWriteExecute", "yes"},
		{"LockPersonality", "yes"},
		{"SystemCallArchitectures", "native"},
		{"UMask", "0077"},
	} {
		if got := values(ds, "Service", want.key); !slices.Equal(got, []string{want.value}) {
			t.Errorf("%s=%q, want %s=%s", want.key, got, want.key, want.value)
		}
	}
}
