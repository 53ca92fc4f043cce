package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeHelpNamesEveryHook: serve --help lists every Kratos web hook
// route the service mounts (webhook/routes.go); it left out
// /hooks/kratos/registered, the registration hook after the save.
func TestServeHelpNamesEveryHook(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "webhook", "routes.go"))
	if err != nil {
		t.Fatal(err)
	}
	routes := regexp.MustCompile(`"/hooks/kratos/([a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(routes) < 4 {
		t.Fatalf("webhook/routes.go: found %d hook routes, want at least 4", len(routes))
	}
	code, out, errs := run(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("serve --help: exit %d %q", code, errs)
	}
	_, hooks, _ := strings.Cut(out, "/hooks/kratos/")
	hooks, _, _ = strings.Cut(hooks, ")")
	named := map[string]bool{}
	for i, h := range strings.Split(hooks, ",") {
		h = strings.TrimSpace(h)
		if i > 0 {
			h = strings.TrimPrefix(h, "/")
		}
		named[h] = true
	}
	for _, r := range routes {
		if !named[r[1]] {
			t.Errorf("serve --help names the hooks %q, not /hooks/kratos/%s", hooks, r[1])
		}
	}
}
