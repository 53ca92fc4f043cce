// Package systemd_test checks the example systemd unit and sysusers file with
// systemd's own tools, and that the configuration the unit starts the
// service with is one the service accepts.
package systemd_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
)

const (
	unitFile     = "callpass-kratos.service"
	sysusersFile = "callpass-kratos.sysusers"
	// maxExposure is the highest `systemd-analyze security` score the unit
	// may have (0 is fully confined, 10 not at all; systemd calls up to 2.0
	// "OK"). The unit scores 1.2: what is left is the network, which the
	// service needs.
	maxExposure = 1.5
)

// directive is one "Key=Value" line of a unit file.
type directive struct {
	Section, Key, Value string
	Line                int
}

// parseUnit reads a unit file into its directives, in order. It knows what
// the example uses: sections, comments and Key=Value lines, no line
// continuations.
func parseUnit(t *testing.T, path string) []directive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []directive
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		case strings.HasSuffix(line, `\`):
			t.Fatalf("%s:%d: line continuations are not expected here", path, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: not Key=Value: %q", path, n, line)
			}
			out = append(out, directive{section, strings.TrimSpace(k), strings.TrimSpace(v), n})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// values returns every value of section/key, in order.
func values(ds []directive, section, key string) []string {
	var out []string
	for _, d := range ds {
		if d.Section == section && d.Key == key {
			out = append(out, d.Value)
		}
	}
	return out
}

func one(t *testing.T, ds []directive, section, key string) string {
	t.Helper()
	v := values(ds, section, key)
	if len(v) != 1 {
		t.Fatalf("[%s] %s: %d values %q, want one", section, key, len(v), v)
	}
	return v[0]
}

// tool finds a systemd tool; the test fails (never skips) without it:
// scripts/install-deps.sh installs systemd where it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required (Debian package systemd; scripts/install-deps.sh installs it): %v", name, err)
	}
	return p
}

// buildService builds cmd/callpass-kratos into a temporary directory.
func buildService(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "callpass-kratos")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/callpass-kratos")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// unitWithBinary writes a copy of the unit whose ExecStart runs bin (the
// installed path does not exist here, and systemd-analyze checks it).
func unitWithBinary(t *testing.T, bin string) string {
	t.Helper()
	raw, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "ExecStart=/usr/local/bin/callpass-kratos ") {
		t.Fatal("ExecStart no longer runs /usr/local/bin/callpass-kratos: update this test")
	}
	s := strings.ReplaceAll(string(raw), "ExecStart=/usr/local/bin/callpass-kratos ", "ExecStart="+bin+" ")
	p := filepath.Join(t.TempDir(), unitFile)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnitVerifies: systemd-analyze verify finds nothing to say about the
// unit: no unknown or misspelt directive (which systemd only warns about and
// ignores, so a hardening line with a typo would silently do nothing), no
// bad value, an executable ExecStart.
func TestUnitVerifies(t *testing.T) {
	sa := tool(t, "systemd-analyze")
	unit := unitWithBinary(t, buildService(t))
	out, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The check above must see a typo: the same unit with one misspelt
	// directive is reported.
	raw, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), unitFile)
	if err := os.WriteFile(bad, []byte(strings.Replace(string(raw), "ProtectHome=yes", "ProtectHomes=yes", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command(sa, "verify", "--man=no", bad).CombinedOutput()
	if !strings.Contains(string(out), "ProtectHomes") {
		t.Fatalf("systemd-analyze verify said nothing about a misspelt directive: %q", out)
	}
}

var exposureRe = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestUnitIsConfined: systemd's offline security review scores the unit at
// most maxExposure.
func TestUnitIsConfined(t *testing.T) {
	sa := tool(t, "systemd-analyze")
	unit := unitWithBinary(t, buildService(t))
	out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	m := exposureRe.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v, no score in:\n%s", err, out)
	}
	score, perr := strconv.ParseFloat(string(m[1]), 64)
	if perr != nil {
		t.Fatal(perr)
	}
	t.Logf("exposure %.1f", score)
	if score > maxExposure {
		t.Errorf("exposure %.1f, want at most %.1f:\n%s", score, maxExposure, out)
	}
}

// TestUnitShape checks what systemd cannot know: the service's own
// command line and shutdown, and that every credential reaches the
// service through a *_FILE variable it reads.
func TestUnitShape(t *testing.T) {
	ds := parseUnit(t, unitFile)

	exec := strings.Fields(one(t, ds, "Service", "ExecStart"))
	if want := []string{"/usr/local/bin/callpass-kratos", "serve", "--config", "/etc/callpass-kratos/callpass-kratos.yml"}; !slices.Equal(exec, want) {
		t.Errorf("ExecStart %q, want %q", exec, want)
	}
	if got := one(t, ds, "Service", "ExecReload"); got != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload %q: SIGHUP is how the service re-reads its keys", got)
	}
	// systemd kills the service after TimeoutStopSec; a graceful shutdown
	// takes up to serve.shutdown_timeout, so the stop must wait longer.
	stop, err := time.ParseDuration(one(t, ds, "Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if shutdown := config.Defaults().Serve.ShutdownTimeout; stop <= shutdown {
		t.Errorf("TimeoutStopSec %s is not above serve.shutdown_timeout %s: systemd would kill in-flight logins", stop, shutdown)
	}
	if got := one(t, ds, "Service", "User"); got != "callpass-kratos" {
		t.Errorf("User %q", got)
	}

	known := map[string]bool{}
	for _, k := range config.Reference() {
		if k.FileEnv != "" {
			known[k.FileEnv] = true
		}
	}
	creds := map[string]string{} // credential name → source
	for _, v := range values(ds, "Service", "LoadCredential") {
		name, src, ok := strings.Cut(v, ":")
		if !ok || !strings.HasPrefix(src, "/etc/callpass-kratos/secrets/") {
			t.Errorf("LoadCredential=%s: want name:/etc/callpass-kratos/secrets/<file>", v)
		}
		creds[name] = src
	}
	used := map[string]bool{}
	for _, v := range values(ds, "Service", "Environment") {
		name, val, _ := strings.Cut(v, "=")
		if !known[name] {
			t.Errorf("Environment=%s: %s is not a secret file variable of the service (docs/configuration.md)", v, name)
		}
		cred, ok := strings.CutPrefix(val, "%d/")
		if !ok || creds[cred] == "" {
			t.Errorf("Environment=%s: want %%d/<a LoadCredential name>", v)
		}
		used[cred] = true
		if strings.Contains(strings.ToLower(name), "token") && !strings.HasSuffix(name, "_FILE") {
			t.Errorf("Environment=%s: a secret in the environment", v)
		}
	}
	for name := range creds {
		if !used[name] {
			t.Errorf("LoadCredential %s reaches no *_FILE variable", name)
		}
	}
	if len(creds) == 0 {
		t.Fatal("no LoadCredential lines")
	}
}

// TestUnitEnvironmentValidates: the configuration the unit starts with
// (examples/callpass-kratos.yml, the unit's *_FILE variables pointing at
// its credentials directory) passes `config validate`, which loads it as
// `serve` does; the credentials are what the variables name.
func TestUnitEnvironmentValidates(t *testing.T) {
	bin := buildService(t)
	ds := parseUnit(t, unitFile)
	credDir := t.TempDir()
	secrets := map[string]string{
		"callpass_token": "0123456789abcdef0123456789abcdef",
		"webhook_secret": "a-webhook-secret-of-more-than-32-bytes-0001",
		"code_key":       "a-code-key-of-more-than-32-bytes-000000001",
		"redis_url":      "redis://:pw@127.0.0.1:6379/0",
	}
	for _, v := range values(ds, "Service", "LoadCredential") {
		name, _, _ := strings.Cut(v, ":")
		s, ok := secrets[name]
		if !ok {
			t.Fatalf("credential %s: this test has no value for it", name)
		}
		if err := os.WriteFile(filepath.Join(credDir, name), []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keys := filepath.Join(t.TempDir(), "jwt-keys.json")
	if out, err := exec.Command(bin, "keys", "generate", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}

	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "JWT_KEYS_FILE=" + keys}
	for _, v := range values(ds, "Service", "Environment") {
		env = append(env, strings.ReplaceAll(v, "%d", credDir))
	}
	run := func(env []string) (string, error) {
		cmd := exec.Command(bin, "config", "validate", "--config", "../callpass-kratos.yml", "--print")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(env)
	if err != nil {
		t.Fatalf("config validate with the unit's environment: %v\n%s", err, out)
	}
	for _, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("config validate --print shows a secret: %s", out)
		}
	}

	// The variables are what the service reads its secrets from: without
	// the credential files, validation fails and names them.
	if err := os.Remove(filepath.Join(credDir, "code_key")); err != nil {
		t.Fatal(err)
	}
	out, err = run(env)
	if err == nil || !strings.Contains(out, "code_key") {
		t.Fatalf("config validate without the code_key credential: %v, want a failure naming it:\n%s", err, out)
	}
}

// TestSysusersCreatesTheUser: systemd-sysusers, run on an empty root, creates
// the system user the unit runs as, without a login shell.
func TestSysusersCreatesTheUser(t *testing.T) {
	su := tool(t, "systemd-sysusers")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(sysusersFile)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(su, "--root="+root, abs).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	user := one(t, parseUnit(t, unitFile), "Service", "User")
	var entry []string
	for _, line := range strings.Split(string(passwd), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[0] == user {
			entry = f
		}
	}
	if entry == nil {
		t.Fatalf("no %s user in:\n%s", user, passwd)
	}
	if uid, err := strconv.Atoi(entry[2]); err != nil || uid == 0 || uid >= 1000 {
		t.Errorf("uid %s: want a system uid (1..999)", entry[2])
	}
	if entry[6] != "/usr/sbin/nologin" {
		t.Errorf("shell %q, want /usr/sbin/nologin", entry[6])
	}
	group, err := os.ReadFile(filepath.Join(root, "etc", "group"))
	if err != nil {
		t.Fatal(err)
	}
	if g := one(t, parseUnit(t, unitFile), "Service", "Group"); !strings.Contains(string(group), "\n"+g+":") && !strings.HasPrefix(string(group), g+":") {
		t.Errorf("no %s group in:\n%s", g, group)
	}
}
