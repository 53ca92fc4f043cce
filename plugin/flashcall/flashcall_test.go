package flashcall

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		raw   string
		class Class
		final bool
	}{
		{"null", ClassPending, false},
		{"NULL", ClassPending, false},
		{"", ClassPending, false},
		{"NORMAL_CLEARING", ClassRang, true},
		{"USER_BUSY", ClassRang, true},
		{"NO_ANSWER", ClassRang, true},
		{" no_answer ", ClassRang, true},
		// Q.850 cause 21: the called party declined; the number was shown.
		{"CALL_REJECTED", ClassRang, true},
		{"call_rejected", ClassRang, true},
		// The caller dropped a ringing call: what a flash call does.
		{"ORIGINATOR_CANCEL", ClassRang, true},
		{"UNALLOCATED_NUMBER", ClassNotDelivered, true},
		{"SUBSCRIBER_ABSENT", ClassNotDelivered, true},
		{"NO_ROUTE_DESTINATION", ClassNotDelivered, true},
		{"NO_USER_RESPONSE", ClassNotDelivered, true},
		{"RECOVERY_ON_TIMER_EXPIRE", ClassNotDelivered, true},
		// Unknown causes: the document calls any status but "null" a
		// finished call's and asks for rang or not; not rang offers a new call.
		{"SOMETHING_NEW", ClassNotDelivered, true},
		{"NORMAL_UNSPECIFIED", ClassNotDelivered, true},
		// The document's generic sample: data.result "success" means the
		// method succeeded; in a status answer (or a synchronous start's) the
		// call is over, so it rang. An asynchronous start: ClassifyAsyncStart.
		{"success", ClassRang, true},
		{"SUCCESS", ClassRang, true},
		{" Success ", ClassRang, true},
		{"successful", ClassNotDelivered, true},
		{"error", ClassNotDelivered, true},
	}
	for _, tt := range tests {
		s := Classify(tt.raw)
		if s.Raw != tt.raw {
			t.Errorf("Classify(%q).Raw = %q: the raw status must be kept as it is", tt.raw, s.Raw)
		}
		if s.Class != tt.class || s.Final() != tt.final {
			t.Errorf("Classify(%q) = %v final %v, want %v final %v", tt.raw, s.Class, s.Final(), tt.class, tt.final)
		}
		// Unrecognised tells a vendor which Raw came unchecked (to clean it).
		known := tt.raw == "" || strings.EqualFold(strings.TrimSpace(tt.raw), "null") || strings.EqualFold(strings.TrimSpace(tt.raw), "success") ||
			rangCauses[strings.ToUpper(strings.TrimSpace(tt.raw))] || notDeliveredCauses[strings.ToUpper(strings.TrimSpace(tt.raw))]
		if s.Unrecognised == known {
			t.Errorf("Classify(%q).Unrecognised = %v, want %v", tt.raw, s.Unrecognised, !known)
		}
	}
	for c, name := range map[Class]string{ClassPending: "pending", ClassRang: "rang", ClassNotDelivered: "not_delivered", ClassUnknown: "unknown"} {
		if c.String() != name {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), name)
		}
	}
}

// TestClassifyAsyncStart: "success" answering an asynchronous start says
// only that the method ran (the call was placed), not that the phone rang,
// so the call stays pending and gets polled. Everything else is Classify.
func TestClassifyAsyncStart(t *testing.T) {
	tests := []struct {
		raw   string
		class Class
	}{
		{"success", ClassPending},
		{"SUCCESS", ClassPending},
		{" Success ", ClassPending},
		{"null", ClassPending},
		{"", ClassPending},
		{"NO_ANSWER", ClassRang},
		{"CALL_REJECTED", ClassRang},
		{"SUBSCRIBER_ABSENT", ClassNotDelivered},
		{"successful", ClassNotDelivered},
	}
	for _, tt := range tests {
		s := ClassifyAsyncStart(tt.raw)
		if s.Raw != tt.raw || s.Class != tt.class {
			t.Errorf("ClassifyAsyncStart(%q) = %+v, want class %v and the raw status kept", tt.raw, s, tt.class)
		}
	}
}
