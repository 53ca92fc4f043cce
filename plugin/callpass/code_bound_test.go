package callpass

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// TestCodeBoundIsTheServices: a v1/v2 code longer than flashcall.MaxCodeLen
// is no usable code here, as the challenge service would refuse it after
// the call: the client accepted up to 15 digits and the service 12, so a
// 13-digit pin passed the client and failed as the service's own
// bad_response, with no client log line saying why.
func TestCodeBoundIsTheServices(t *testing.T) {
	for _, tt := range []struct {
		version int
		field   string
		digits  int
		ok      bool
	}{
		{1, "pin", flashcall.MaxCodeLen, true},
		{1, "pin", flashcall.MaxCodeLen + 1, false},
		{2, "phone", flashcall.MaxCodeLen, true},
		{2, "phone", flashcall.MaxCodeLen + 1, false},
		{2, "phone", 15, false},
	} {
		code := strings.Repeat("3", tt.digits)
		p := newProvider(t, jsonAnswer(`{"data":{"callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","`+tt.field+`":"`+code+`","result":"NO_ANSWER"},"status":"success"}`))
		c := newTestClient(t, p.srv.URL, tt.version, func(cfg *Config) { cfg.Async = false })
		call, err := c.StartCall(context.Background(), mustPhone(t))
		switch {
		case tt.ok && (err != nil || call.Code != code):
			t.Errorf("v%d %s of %d digits: %+v, %v: want the call", tt.version, tt.field, tt.digits, call, err)
		case !tt.ok && !errors.Is(err, flashcall.ErrBadResponse):
			t.Errorf("v%d %s of %d digits: %+v, %v: want no usable code", tt.version, tt.field, tt.digits, call, err)
		}
	}
}
