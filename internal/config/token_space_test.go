package config

import (
	"strings"
	"testing"
)

// TestTokenWithASpaceSaysSo: a CallPass token that is right but for a space
// or line break around it (a value pasted with one, a *_file an editor ended
// with "\r\n") is refused with a message that says so, never quoting the
// token; a token of the wrong length is refused as before.
func TestTokenWithASpaceSaysSo(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, token, want string
	}{
		{"trailing space", tok + " ", "starts or ends with a space or line break"},
		{"carriage return", tok + "\r", "starts or ends with a space or line break"},
		{"leading space, 64", " " + tok + tok, "starts or ends with a space or line break"},
		{"too short", tok[:31], "(got 31 characters)"},
		{"a space inside", tok[:16] + " " + tok[16:], "(got 33 characters)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tokenProblem(tt.token)
			if !strings.Contains(got, tt.want) || strings.Contains(got, tok[:8]) {
				t.Fatalf("tokenProblem: %q, want one with %q and none of the token", got, tt.want)
			}
			if tt.want == "(got 33 characters)" && strings.Contains(got, "line break") {
				t.Errorf("a space inside the token is no space around it: %q", got)
			}
		})
	}
}
