package config

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/configuration.md from the key table")

// TestConfigurationDocIsCurrent keeps docs/configuration.md equal to the key
// table; run `go test ./internal/config -update-docs` after changing a key.
func TestConfigurationDocIsCurrent(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	want := "# Configuration reference\n\n<!-- Generated from internal/config/keys.go by `go test ./internal/config -update-docs`. Do not edit. -->\n\n" + MarkdownReference()
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/config -update-docs)", err)
	}
	if string(got) != want {
		t.Fatal("docs/configuration.md is out of date: run go test ./internal/config -update-docs")
	}
}
