package flashcall

import "testing"

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
		{"CALL_REJECTED", ClassNotDelivered, true},
		{"UNALLOCATED_NUMBER", ClassNotDelivered, true},
		{"SUBSCRIBER_ABSENT", ClassNotDelivered, true},
		{"NO_ROUTE_DESTINATION", ClassNotDelivered, true},
		{"SOMETHING_NEW", ClassUnknown, false},
		// The document's generic sample: data.result "success" means the
		// method (placing the call) succeeded.
		{"success", ClassRang, true},
		{"SUCCESS", ClassRang, true},
		{" Success ", ClassRang, true},
		{"successful", ClassUnknown, false},
		{"error", ClassUnknown, false},
	}
	for _, tt := range tests {
		s := Classify(tt.raw)
		if s.Raw != tt.raw {
			t.Errorf("Classify(%q).Raw = %q: the raw status must be kept as it is", tt.raw, s.Raw)
		}
		if s.Class != tt.class || s.Final() != tt.final {
			t.Errorf("Classify(%q) = %v final %v, want %v final %v", tt.raw, s.Class, s.Final(), tt.class, tt.final)
		}
	}
	for c, name := range map[Class]string{ClassPending: "pending", ClassRang: "rang", ClassNotDelivered: "not_delivered", ClassUnknown: "unknown"} {
		if c.String() != name {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), name)
		}
	}
}
