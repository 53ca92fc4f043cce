package webhook

import (
	"testing"

	"github.com/labstack/echo/v4"
)

func TestSafeURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/hooks/kratos/login", "/hooks/kratos/login"},
		{"/v1/challenges/abc123.0f9e/verify", "/v1/challenges/abc***f9e/verify"},
		// A challenge ID's dot joins two random strings, not a number.
		{"/v1/challenges/AbCdEfGhIjKlMnOpQrS123.0123abcdef/verify", "/v1/challenges/AbCdEfGhIjKlMnOpQrS123.***abcdef/verify"},
		{"/v1/challenges/AbCdEfGhIjKlMnOpQrSt12.34abcdef01/verify", "/v1/challenges/AbCdEfGhIjKlMnOpQrSt12.34abcdef01/verify"},
		{"/x?id=AbCdEfGhIjKlMnOpQrSt12.34abcdef01", "/x?id=AbCdEfGhIjKlMnOpQrSt12.34abcdef01"},
		// Not an ID (23 characters before the dot): the dot joins.
		{"/v1/challenges/AbCdEfGhIjKlMnOpQrSt012.34abcdef01/verify", "/v1/challenges/AbCdEfGhIjKlMnOpQrSt***abcdef01/verify"},
		// A number inside an ID-shaped segment is still masked.
		{"/v1/challenges/7-900-123-45-67abcdefg.0a1b2c3d4e/verify", "/v1/challenges/***abcdefg.0a1b2c3d4e/verify"},
		{"/2fa?phone=79001234567", "/2fa?phone=***"},
		{"/x?code=1234", "/x?code=***"},
		{"/x?a=123&b=4567&c=89", "/x?a=123&b=***&c=89"},
		{"/x/1234", "/x/***"},
		{"", ""},
		// A number written as people write it, or as a form encodes it.
		{"/2fa?phone=+7+900+123-45-67", "/2fa?phone=+***"},
		{"/2fa?phone=%2B7%20(900)%20123-45-67&x=1", "/2fa?phone=%2B***&x=1"},
		{"/2fa?phone=7.900.123.45.67", "/2fa?phone=***"},
		{"/x/900/123/45/67", "/x/***"},
		{"/x?code=12-34", "/x?code=***"},
		{"/x?code=1+2+3+4", "/x?code=***"},
		// Percent-encoded digits and other scripts' digits are digits.
		{"/x?code=%34%34%34%36", "/x?code=***"},
		{"/x?code=%EF%BC%94%EF%BC%94%EF%BC%94%EF%BC%96", "/x?code=***"},
		{"/x?code=\uff14\uff14\uff14\uff16", "/x?code=***"},
		{"/x?code=%EF%BC%94\uff14%34%EF%BC%96", "/x?code=***"},
		// Whatever else stands between digits joins them: other spaces
		// (tab, line feed, the narrow and thin spaces of a formatted
		// number), invisible marks a copied number carries (U+200E, U+202A,
		// U+200B), NUL, other punctuation.
		{"/x?p=900%09123%0945%0967", "/x?p=***"},
		{"/x?p=900\t123\t45\t67", "/x?p=***"},
		{"/x?p=900%0A123%0D%0A45%0A67", "/x?p=***"},
		{"/x?c=12%0934", "/x?c=***"},
		{"/x?c=12%0034", "/x?c=***"},
		{"/x?p=900%E2%80%AF123%E2%80%AF45%E2%80%AF67", "/x?p=***"},
		{"/x?p=900%E2%80%89123%E2%80%8945%E2%80%8967", "/x?p=***"},
		{"/x?p=900%E3%80%80123%E3%80%8045%E3%80%8067", "/x?p=***"},
		{"/x?p=%E2%80%AA%2B7%20900%20123-45-67%E2%80%AC", "/x?p=%E2%80%AA%2B***%E2%80%AC"},
		{"/x?c=1%E2%80%8B2%E2%80%8B3%E2%80%8B4", "/x?c=***"},
		{"/x?c=1%E2%80%8E2%E2%80%8E3%E2%80%8E4", "/x?c=***"},
		{"/x?p=900,123,45,67", "/x?p=***"},
		{"/x?p=900;123;45;67", "/x?p=***"},
		{"/x?p=900:123:45:67", "/x?p=***"},
		{"/x?c=12%2C34", "/x?c=***"},
		{"/x?p=900*123*45*67", "/x?p=***"},
		{"/x?p=900|123|45|67", "/x?p=***"},
		{"/x?p=900'123'45'67", "/x?p=***"},
		{"/x?p=900~123~45~67", "/x?p=***"},
		{"/x?p=900%FF123%FF45%FF67", "/x?p=***"},
		{"/x?p=9%25001234567", "/x?p=***"},
		// ... and other scripts' numerals count as digits.
		{"/x?c=\u00b9\u00b2\u00b3\u2074", "/x?c=***"},
		{"/x?c=\u2460\u2461\u2462\u2463", "/x?c=***"},
		// A query's '=', '&' (as written, not %3D or %26), '?', '#' and
		// letters end a group; short groups stay.
		{"/x?a=12&b=34", "/x?a=12&b=34"},
		{"/x?a=12=34", "/x?a=12=34"},
		{"/x/12?34", "/x/12?34"},
		{"/x?a=12#34", "/x?a=12#34"},
		{"/x?a=12x34", "/x?a=12x34"},
		{"/x?a=12%D0%B934", "/x?a=12%D0%B934"},
		{"/x?a=12%2634", "/x?a=***"},
		{"/api/v3.0/start?n=1", "/api/v3.0/start?n=1"},
		{"/x?v=1.2.3", "/x?v=1.2.3"},
		{"/x?v=1.2.3.4", "/x?v=***"},
		// Broken encodings are read byte by byte and kept.
		{"/x?%zz%4=1%", "/x?%zz%4=1%"},
		{"/x?a=%E2%82", "/x?a=%E2%82"},
		{"/x?a=\xff1234", "/x?a=\xff***"},
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
