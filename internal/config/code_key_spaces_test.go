package config

import (
	"strings"
	"testing"
)

// TestCodeKeySpacesAtItsEnds: Helm's randAscii draws from printable ASCII,
// the space included, so about one code key in fifty it makes starts or
// ends with a space. The key was kept as given, and an instance whose copy
// lost the space (a YAML value, systemd's EnvironmentFile, a terminal's
// copy) keyed codes and limits differently from the others: a code sent
// by one was a wrong code at the next, and each counted its own limits.
// The spaces at its ends are trimmed, with a notice that never quotes the
// key, so every copy gives the same key; a randAscii 64 key is not refused
// (one of 32 that loses a space is, saying so: at least 32 bytes remain
// the rule for the key in use).
func TestCodeKeySpacesAtItsEnds(t *testing.T) {
	const good = "6f1c0a9e3b7d45f28a1e9c0b7d3f5a2e4c6b8d0f"
	tests := []struct {
		name   string
		env    []string
		notice bool
	}{
		{"as given elsewhere", []string{"CHALLENGE_CODE_KEY=" + good}, false},
		{"a space at the end", []string{"CHALLENGE_CODE_KEY=" + good + " "}, true},
		{"a space at the start", []string{"CHALLENGE_CODE_KEY= " + good}, true},
		{"spaces and a tab at both ends", []string{"CHALLENGE_CODE_KEY=  \t" + good + " \t"}, true},
		{"a file with spaces before its line end", []string{"CHALLENGE_CODE_KEY=", "CHALLENGE_CODE_KEY_FILE=" + writeFile(t, "k", " "+good+"  \n")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, notices, err := Load("", baseEnv(tt.env...), false)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.Challenge.CodeKey != good {
				t.Errorf("code key of %d bytes, want the %d of the key without its spaces", len(c.Challenge.CodeKey), len(good))
			}
			var said []string
			for _, n := range notices {
				if strings.Contains(n, "challenge.code_key") {
					said = append(said, n)
				}
				if strings.Contains(n, good[8:]) {
					t.Errorf("a notice quotes the key: %q", n)
				}
			}
			if tt.notice && (len(said) != 1 || !strings.Contains(said[0], "trimmed")) {
				t.Errorf("notices %q, want one saying challenge.code_key was trimmed", notices)
			}
			if !tt.notice && len(said) != 0 {
				t.Errorf("notices %q about a key without spaces at its ends", said)
			}
		})
	}
	// The key in use is the rest, and must be long enough: the message
	// says why a key of 32 given is 31.
	_, _, err := Load("", baseEnv("CHALLENGE_CODE_KEY="+good[:31]+" "), false)
	if p := oneProblem(t, err, "challenge.code_key"); !strings.Contains(p.Message, "got 31 once the spaces or tabs at its ends were trimmed") {
		t.Errorf("message %q does not say the key was trimmed to 31 bytes", p.Message)
	}
	// Spaces are no key: one of spaces only is still missing.
	if _, _, err := Load("", baseEnv("CHALLENGE_CODE_KEY=    "), false); err == nil || !strings.Contains(err.Error(), "challenge.code_key") {
		t.Errorf("a code key of spaces only: %v, want it refused", err)
	}
}
