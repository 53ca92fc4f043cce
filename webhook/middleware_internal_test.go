package webhook

import (
	"testing"

	"github.com/labstack/echo/v4"
)

func TestSafeURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/hooks/kratos/login", "/hooks/kratos/login"},
		{"/v1/challenges/abc123.0f9e/verify", "/v1/challenges/abc123.0f9e/verify"},
		{"/2fa?phone=79001234567", "/2fa?phone=***"},
		{"/x?code=1234", "/x?code=***"},
		{"/x?a=123&b=4567&c=89", "/x?a=123&b=***&c=89"},
		{"/x/1234", "/x/***"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := safeURI(tt.in); got != tt.want {
			t.Errorf("safeURI(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	h := chain(func(c echo.Context) error { order = append(order, "h"); return nil },
		func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { order = append(order, "a"); return next(c) }
		},
		func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { order = append(order, "b"); return next(c) }
		})
	if err := h(nil); err != nil || len(order) != 3 || order[0] != "a" || order[1] != "b" || order[2] != "h" {
		t.Fatalf("order %v, want [a b h]", order)
	}
}
