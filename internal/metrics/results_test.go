package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

// TestKratosForbiddenIsNotFound: Kratos answering that the session is not
// allowed (403, kratos.ErrForbidden) is its answer about the caller, counted
// as not_found as the HELP text says, not as a failure of Kratos.
func TestKratosForbiddenIsNotFound(t *testing.T) {
	for _, err := range []error{
		kratos.ErrForbidden,
		&kratos.Error{Op: "whoami", StatusCode: 403, Kind: kratos.ErrForbidden},
	} {
		m := New()
		m.ObserveKratos("whoami", err, time.Millisecond)
		if got := testutil.ToFloat64(m.kratosCalls.WithLabelValues("whoami", "not_found")); got != 1 {
			t.Errorf("%v: whoami not_found = %v, want 1", err, got)
		}
		if got := testutil.ToFloat64(m.kratosCalls.WithLabelValues("whoami", "error")); got != 0 {
			t.Errorf("%v: whoami error = %v, want 0", err, got)
		}
	}
}
