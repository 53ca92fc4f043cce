package config

import (
	"strings"
	"testing"
)

// TestYAMLTabIndentNamed: a line indented with a tab (an editor's habit) is
// a YAML syntax error whose own words, "found character that cannot start
// any token", do not say what to fix: the message names the tab. Other
// syntax errors, and a tab inside a value, get no such hint.
func TestYAMLTabIndentNamed(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		hint      bool
	}{
		{"tab indent", "log:\n\tlevel: debug\n", true},
		{"spaces then a tab", "log:\n  level: debug\nserve:\n  \tlisten: 127.0.0.1:1\n", true},
		{"an unclosed list", "serve: [\n", false},
		{"a bad indent without tabs", "log:\n  level: debug\n   format: text\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(writeFile(t, "c.yml", tc.yml), baseEnv(), false)
			if err == nil {
				t.Fatal("loaded")
			}
			if got := strings.Contains(err.Error(), "indented with a tab"); got != tc.hint {
				t.Errorf("%v: hint %v, want %v", err, got, tc.hint)
			}
		})
	}
}
