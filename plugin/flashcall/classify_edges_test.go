package flashcall

import "testing"

// TestClassifyEveryKnownCause pins every hang-up cause the package knows to
// its class, spelled out here rather than read from the maps, so a cause
// moved to the wrong map (a "not delivered" cause counted as rang, which
// would let a user wait for a code that never came) or dropped from them
// (which makes it unknown: never final, so the call is polled to its
// timeout) fails.
func TestClassifyEveryKnownCause(t *testing.T) {
	rang := []string{"NORMAL_CLEARING", "USER_BUSY", "NO_ANSWER", "CALL_REJECTED", "ORIGINATOR_CANCEL"}
	notDelivered := []string{
		"UNALLOCATED_NUMBER", "SUBSCRIBER_ABSENT", "NO_ROUTE_DESTINATION", "NO_USER_RESPONSE",
		"NORMAL_TEMPORARY_FAILURE", "NETWORK_OUT_OF_ORDER", "DESTINATION_OUT_OF_ORDER",
		"RECOVERY_ON_TIMER_EXPIRE", "INVALID_NUMBER_FORMAT", "NUMBER_CHANGED", "USER_NOT_REGISTERED",
		"MEDIA_TIMEOUT", "NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION", "SERVICE_UNAVAILABLE",
		"INCOMPATIBLE_DESTINATION", "FACILITY_REJECTED", "CHAN_NOT_IMPLEMENTED", "BEARERCAPABILITY_NOTAVAIL",
	}
	check := func(raw string, want Class) {
		t.Helper()
		for _, s := range []Status{Classify(raw), ClassifyAsyncStart(raw)} {
			if s.Class != want || !s.Final() || s.Raw != raw {
				t.Errorf("%q classified %v (final %v, raw %q), want %v, final, raw kept", raw, s.Class, s.Final(), s.Raw, want)
			}
		}
	}
	for _, c := range rang {
		check(c, ClassRang)
	}
	for _, c := range notDelivered {
		check(c, ClassNotDelivered)
		check(" "+lower(c)+"\t", ClassNotDelivered)
	}
	if got, want := len(rangCauses)+len(notDeliveredCauses), len(rang)+len(notDelivered); got != want {
		t.Errorf("the maps hold %d causes, this test pins %d: pin the new ones", got, want)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
