package config

import (
	"strings"
	"testing"
)

// TestCodeKeySpacesAtItsEnds: Helm's randAscii draws from printable ASCII,
// the space included, so about one code key in fifty it makes starts or
// ends with a space, and a copy of one easily loses it (a YAML plain value,
// systemd's EnvironmentFile, a terminal). Such a key, given the same to
// every instance (one Kubernetes secret), was valid and in use: trimming
// it changed the key on upgrade, so codes sent before it were wrong
// guesses after it, the per-number and per-IP counters and the phone-check
// bans started afresh, and during a rolling upgrade old and new instances
// keyed codes differently. The key is kept as given, with a notice that
// never quotes it, saying its ends are part of it and every copy must keep
// them.
func TestCodeKeySpacesAtItsEnds(t *testing.T) {
	const good = "6f1c0a9e3b7d45f28a1e9c0b7d3f5a2e4c6b8d0f"
	tests := []struct {
		name   string
		env    []string
		want   string
		notice bool
	}{
		{"as given elsewhere", []string{"CHALLENGE_CODE_KEY=" + good}, good, false},
		{"a space at the end", []string{"CHALLENGE_CODE_KEY=" + good + " "}, good + " ", true},
		{"a space at the start", []string{"CHALLENGE_CODE_KEY= " + good}, " " + good, true},
		{"spaces and a tab at both ends", []string{"CHALLENGE_CODE_KEY=  \t" + good + " \t"}, "  \t" + good + " \t", true},
		{"a file with spaces before its line end", []string{"CHALLENGE_CODE_KEY=", "CHALLENGE_CODE_KEY_FILE=" + writeFile(t, "k", " "+good+"  \n")}, " " + good + "  ", true},
		// 31 bytes and a space: 32, as an older version accepted it.
		{"32 bytes with the space", []string{"CHALLENGE_CODE_KEY=" + good[:31] + " "}, good[:31] + " ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, notices, err := Load("", baseEnv(tt.env...), false)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.Challenge.CodeKey != tt.want {
				t.Errorf("code key of %d bytes (%d spaces or tabs at its ends), want the key as given: %d bytes (%d)",
					len(c.Challenge.CodeKey), len(c.Challenge.CodeKey)-len(strings.Trim(c.Challenge.CodeKey, " \t")),
					len(tt.want), len(tt.want)-len(strings.Trim(tt.want, " \t")))
			}
			var said []string
			for _, n := range notices {
				if strings.Contains(n, "challenge.code_key") {
					said = append(said, n)
				}
				if strings.Contains(n, good[8:20]) {
					t.Errorf("a notice quotes the key: %q", n)
				}
			}
			if tt.notice && (len(said) != 1 || !strings.Contains(said[0], "part of the key") || strings.Contains(said[0], "trimmed")) {
				t.Errorf("notices %q, want one saying the spaces or tabs are part of challenge.code_key", notices)
			}
			if !tt.notice && len(said) != 0 {
				t.Errorf("notices %q about a key without spaces at its ends", said)
			}
		})
	}
	// Spaces are no key: one of spaces only is too short.
	if _, _, err := Load("", baseEnv("CHALLENGE_CODE_KEY=    "), false); err == nil || !strings.Contains(err.Error(), "challenge.code_key") {
		t.Errorf("a code key of spaces only: %v, want it refused", err)
	}
}
