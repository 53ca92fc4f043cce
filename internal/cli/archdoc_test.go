package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureDocNamesTheCommands: docs/architecture.md's code layout
// shows main's call of Main as main.go makes it and lists every command
// (it showed Main without the environment and left out bans).
func TestArchitectureDocNamesTheCommands(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(string(doc), "\n") {
		if dir, rest, ok := strings.Cut(l, "/ "); ok && (dir == "cmd/callpass-kratos" || dir == "internal/cli") {
			lines[dir] = rest
		}
	}
	main, err := os.ReadFile(filepath.Join(root, "cmd", "callpass-kratos", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`(?m)cli\.Main\(.*\)$`).FindString(string(main))
	if call == "" || !strings.Contains(lines["cmd/callpass-kratos"], call) {
		t.Errorf("docs/architecture.md: cmd/callpass-kratos line %q does not show main.go's %q", lines["cmd/callpass-kratos"], call)
	}
	for _, c := range commands() {
		if !regexp.MustCompile(`\b` + c.name + `\b`).MatchString(lines["internal/cli"]) {
			t.Errorf("docs/architecture.md: internal/cli line %q does not list the %s command", lines["internal/cli"], c.name)
		}
	}
}
