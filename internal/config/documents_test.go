package config

import (
	"errors"
	"strings"
	"testing"
)

// TestYAMLOneDocument: a configuration file is one YAML document. A second
// one (a file appended to another with ---) was silently ignored, its keys
// unknown ones included: log.level stayed info below, and "bogus" was not
// reported. It is now an error naming the line of the second document; a
// --- before the first, or one closing the file, is no second document.
func TestYAMLOneDocument(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yml     string
		wantErr string // "" = valid, log.level debug
	}{
		{"one document", "log:\n  level: debug\n", ""},
		{"leading ---", "---\nlog:\n  level: debug\n", ""},
		{"closing ---", "log:\n  level: debug\n---\n", ""},
		{"closing ...", "log:\n  level: debug\n...\n", ""},
		{"two documents", "log:\n  level: debug\n---\nlog:\n  level: error\nbogus: 1\n", "line 4: a second YAML document"},
		{"two documents after a leading ---", "---\nlog:\n  level: debug\n---\nserve:\n  listen: 0.0.0.0:4477\n", "line 5: a second YAML document"},
		{"a comment-only second document", "log:\n  level: debug\n---\n# the rest\n", ""},
		// A file closed by --- with another appended: the empty document
		// between them hid the one after it.
		{"a document after an empty one", "log:\n  level: debug\n---\n---\nlog:\n  level: error\n", "line 5: a second YAML document"},
		{"a document after a null one", "log:\n  level: debug\n---\n~\n---\nbogus: 1\n", "line 6: a second YAML document"},
		{"empty documents only", "log:\n  level: debug\n---\n---\n...\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Load(writeFile(t, "c.yml", tc.yml), baseEnv(), false)
			if tc.wantErr == "" {
				if err != nil || c.Log.Level != "debug" {
					t.Fatalf("err %v, log.level %q", err, c.Log.Level)
				}
				return
			}
			var ve *ValidationError
			if err == nil || errors.As(err, &ve) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want a parse error with %q", err, tc.wantErr)
			}
		})
	}
}
