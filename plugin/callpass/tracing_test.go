package callpass

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSpans: one span per HTTP exchange with the operation, API version and
// outcome, an error status on failure, and nothing that identifies the user.
func TestSpans(t *testing.T) {
	tests := []struct {
		name    string
		reply   func(http.ResponseWriter, *http.Request)
		op      func(*Client) error
		span    string
		outcome string
		failed  bool
	}{
		{"start ok", jsonAnswer(sampleV3Async), func(c *Client) error {
			_, err := c.StartCall(context.Background(), mustPhone(t))
			return err
		}, "callpass start", OutcomeOK, false},
		{"start refused", jsonAnswer(sampleDestination), func(c *Client) error {
			_, err := c.StartCall(context.Background(), mustPhone(t))
			return err
		}, "callpass start", OutcomeDestinationNotAllowed, true},
		{"status ok", jsonAnswer(sampleV2Status), func(c *Client) error {
			_, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			return err
		}, "callpass status", OutcomeOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			p := newProvider(t, tt.reply)
			c := newTestClient(t, p.srv.URL, 3, func(c *Config) { c.TracerProvider = tp })
			if err := tt.op(c); (err != nil) != tt.failed {
				t.Fatalf("err = %v, want failure %v", err, tt.failed)
			}
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name() != tt.span {
				t.Errorf("name = %q, want %q", s.Name(), tt.span)
			}
			attrs := map[attribute.Key]attribute.Value{}
			for _, kv := range s.Attributes() {
				attrs[kv.Key] = kv.Value
				// 9001234567 is the number; 4610 / 2214610 the code; and the token.
				for _, secret := range []string{"9001234567", "2214610", "4610", testToken} {
					if strings.Contains(kv.Value.Emit(), secret) {
						t.Errorf("attribute %s = %q holds %q", kv.Key, kv.Value.Emit(), secret)
					}
				}
			}
			if got := attrs["callpass.outcome"].AsString(); got != tt.outcome {
				t.Errorf("outcome = %q, want %q", got, tt.outcome)
			}
			if got := attrs["callpass.api_version"].AsInt64(); got != 3 {
				t.Errorf("api_version = %d, want 3", got)
			}
			if got := s.Status().Code == codes.Error; got != tt.failed {
				t.Errorf("error status = %v, want %v", got, tt.failed)
			}
		})
	}
}
