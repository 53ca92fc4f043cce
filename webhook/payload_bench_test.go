package webhook_test

import (
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// realisticBody is what examples/kratos/hooks/login.jsonnet renders for an
// API login on Kratos v1.3.1 (about 1 KiB).
var realisticBody = []byte(`{"accept_language":"ru-RU,ru;q=0.9,en;q=0.8",` +
	`"client_ip":"203.0.113.7","flow_id":"0b6f2f6e-4a8e-4f55-9a3c-6f1e2d3c4b5a","flow_type":"api",` +
	`"identity_id":"5f0c8d2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f","metadata_public":null,` +
	`"session":{"aal":"aal1","authenticated_at":"2026-11-26T01:02:03.456789Z","expires_at":"2026-11-27T01:02:03.456789Z"},` +
	`"traits":{"email":"user@example.com","name":{"first":"Ivan","last":"Petrov"},"phone":"+79001234567"},` +
	`"transient_payload":{"callpass_code":"1234"}}`)

func BenchmarkDecodeHookPayload(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(realisticBody)))
	for b.Loop() {
		if _, err := webhook.DecodeHookPayload(realisticBody); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeHookPayloadAllocs: decoding a login hook's body allocates the
// payload once and the strings it keeps, nothing per session time or for
// transient_payload (the body arrives on every login submit, wrong codes
// included).
func TestDecodeHookPayloadAllocs(t *testing.T) {
	// 14 while the session times were pointers and transient_payload was
	// decoded into values of its own.
	const want = 9
	if n := allocs.Min(100, func() {
		if _, err := webhook.DecodeHookPayload(realisticBody); err != nil {
			t.Fatal(err)
		}
	}); n > want {
		t.Errorf("DecodeHookPayload makes %v allocations, want at most %d", n, want)
	}
}
