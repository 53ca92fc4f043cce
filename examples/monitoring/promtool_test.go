package monitoring_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// promtool runs Prometheus's promtool (scripts/promtool.sh fetches it;
// CALLPASS_PROMTOOL_BIN overrides) in dir and returns its combined output.
// The regexp checks above compare names with the real exporter; promtool
// adds Prometheus's own grammar and rule evaluation.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.PromtoolBinary(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPromtoolChecksAlertRules: Prometheus itself loads alerts.yml (every
// expression parsed, every rule well-formed), as `rule_files:` would.
func TestPromtoolChecksAlertRules(t *testing.T) {
	abs, err := filepath.Abs("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := promtool(t, ".", "check", "rules", abs)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(out))
}

// grafanaVars are the variables the dashboard's expressions may use. Grafana
// substitutes them before Prometheus sees the query, so they are replaced
// the same way here: the range variables by a fixed 5m, the dashboard's
// constants by their value (added from its templating list).
var grafanaVars = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "5m",
	"__range":         "5m",
}

var grafanaVar = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?`)

// dashboardExprs returns the dashboard's panel expressions (by panel title)
// with Grafana's variables replaced.
func dashboardExprs(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query string `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for k, v := range grafanaVars {
		vars[k] = v
	}
	for _, v := range dash.Templating.List {
		if v.Type == "constant" {
			vars[v.Name] = v.Query
		}
	}
	out := map[string][]string{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			expr := grafanaVar.ReplaceAllStringFunc(tg.Expr, func(m string) string {
				name := grafanaVar.FindStringSubmatch(m)[1]
				v, ok := vars[name]
				if !ok {
					t.Errorf("panel %q: unknown Grafana variable %s", p.Title, m)
				}
				return v
			})
			out[p.Title] = append(out[p.Title], expr)
		}
	}
	return out
}

// docQueries returns the queries of docs/operations.md's promql blocks; a
// line indented under a query continues it (operationsDoc gives lines).
func docQueries(t *testing.T) []string {
	t.Helper()
	_, lines := operationsDoc(t)
	var out []string
	for _, l := range lines {
		switch {
		case strings.TrimSpace(l) == "":
		case (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(out) > 0:
			out[len(out)-1] += "\n" + l
		default:
			out = append(out, l)
		}
	}
	return out
}

// TestPromtoolParsesDashboardAndDocQueries feeds every dashboard expression
// and every documented query through Prometheus's parser: each becomes a
// recording rule of a temporary rule file that `promtool check rules`
// loads. A query that only looks right (a missing parenthesis, a
// function's wrong arity, `by` in the wrong place) fails here.
func TestPromtoolParsesDashboardAndDocQueries(t *testing.T) {
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	var where []string
	dash := dashboardExprs(t)
	for title, exprs := range dash {
		for _, e := range exprs {
			rules = append(rules, rule{Record: fmt.Sprintf("dashboard:expr_%d", len(rules)), Expr: e})
			where = append(where, "dashboard panel "+title)
		}
	}
	queries := docQueries(t)
	for _, q := range queries {
		rules = append(rules, rule{Record: fmt.Sprintf("docs:expr_%d", len(rules)), Expr: q})
		where = append(where, "docs/operations.md")
	}
	if len(dash) == 0 || len(queries) == 0 {
		t.Fatalf("no dashboard expressions (%d) or documented queries (%d)", len(dash), len(queries))
	}
	// One file per query: promtool stops at a file's first bad expression,
	// and a file per query names each bad one.
	dir := t.TempDir()
	args := []string{"check", "rules"}
	for i, r := range rules {
		raw, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "parse", "rules": []rule{r}}}})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("q%03d.yml", i)
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	out, err := promtool(t, dir, args...)
	if err == nil {
		t.Logf("promtool parsed %d dashboard and documented expressions", len(rules))
		return
	}
	named := false
	for i, r := range rules {
		name := fmt.Sprintf("q%03d.yml", i)
		if one, err := promtool(t, dir, "check", "rules", name); err != nil {
			named = true
			t.Errorf("%s: promtool refuses\n  %s\n%s", where[i], r.Expr, one)
		}
	}
	if !named {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
