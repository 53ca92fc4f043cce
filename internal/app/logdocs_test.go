package app

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOperationsLogTableNamesRealMessages: every message docs/operations.md's
// "Logs" table names is one the code writes, word for word (an operator
// greps the log for it). "…" in a documented message stands for a part the
// code fills in; a message the code builds from a prefix and a text ("Redis
// store: "+warning) may be found as two pieces split at ": ".
func TestOperationsLogTableNamesRealMessages(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Logs\n")
	if !ok {
		t.Fatal(`docs/operations.md has no "## Logs" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")

	var src strings.Builder
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "tools" || d.Name() == "testout" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		src.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	code := src.String()
	found := func(piece string) bool {
		if strings.Contains(code, piece) {
			return true
		}
		for i := strings.Index(piece, ": "); i >= 0; {
			if strings.Contains(code, piece[:i+2]) && strings.Contains(code, piece[i+2:]) {
				return true
			}
			j := strings.Index(piece[i+2:], ": ")
			if j < 0 {
				break
			}
			i += 2 + j
		}
		return false
	}

	// The first cell of each row: `message` or `message` / `message`.
	firstCell := regexp.MustCompile("(?m)^\\| ((?:`[^`]+`(?: / )?)+) \\|")
	msg := regexp.MustCompile("`([^`]+)`")
	n := 0
	for _, row := range firstCell.FindAllStringSubmatch(section, -1) {
		for _, m := range msg.FindAllStringSubmatch(row[1], -1) {
			n++
			for _, piece := range strings.Split(m[1], "…") {
				piece = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(piece), ","))
				if piece == "" {
					continue
				}
				if !found(piece) {
					t.Errorf("docs/operations.md, Logs: %q is not a message the code writes (%q not found)", m[1], piece)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("read %d messages from the Logs table; the table's layout changed?", n)
	}
}
