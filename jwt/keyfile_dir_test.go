package jwt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteKeyFileDirectoryErrors: a key file in a directory that is not
// there names that directory (and how to create it), not the temporary
// file the write goes through.
func TestWriteKeyFileDirectoryErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	k := mustKey(t, AlgES256)
	tests := []struct {
		name   string
		path   string
		write  func(path string) error
		wantIn []string
	}{
		{"WriteKeyFile, missing directory", filepath.Join(dir, "etc", "callpass-kratos", "jwt-keys.json"),
			func(p string) error { return WriteKeyFile(p, k) },
			[]string{"directory " + filepath.Join(dir, "etc", "callpass-kratos") + " does not exist", "mkdir -p"}},
		{"AppendKey (keys generate), missing directory", filepath.Join(dir, "missing", "jwt-keys.json"),
			func(p string) error { return AppendKey(p, k, true) },
			[]string{"directory " + filepath.Join(dir, "missing") + " does not exist"}},
		{"parent is a file", filepath.Join(notDir, "jwt-keys.json"),
			func(p string) error { return WriteKeyFile(p, k) },
			[]string{notDir + " is not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write(tt.path)
			if err == nil || !errors.Is(err, ErrKey) {
				t.Fatalf("err = %v, want an ErrKey", err)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), ".jwt-keys-") {
				t.Errorf("error names the temporary file: %q", err)
			}
		})
	}
}
