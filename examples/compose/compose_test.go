// Package compose_test checks the container files admins run as documented:
// examples/compose/real-callpass.yml (the switch of docker-compose.yml from
// the simulator to the real CallPass, with the steps of its header) and the
// Dockerfile's listen address.
// Docker does not run here: compose files are loaded with the compose-spec
// library `docker compose` itself uses.
package compose_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

const override = "examples/compose/real-callpass.yml"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

func loadProject(t *testing.T, env []string, files ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(root, f)
	}
	opts, err := cli.NewProjectOptions(paths, cli.WithWorkingDirectory(root), cli.WithName("callpass-kratos"), cli.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return p
}

// TestRealCallPassOverrideIsAValidProductionConfig: the override, merged on
// docker-compose.yml, runs serve without --dev, and the service's environment
// (with the secret files and the JWT key file created, and the published
// placeholders replaced, as its header says) is a valid configuration:
// nothing --dev used to fill is missing.
func TestRealCallPassOverrideIsAValidProductionConfig(t *testing.T) {
	steps := headerSteps(t)
	secrets, contents := secretFiles(t)
	p := loadProject(t, []string{"CALLPASS_SECRETS_DIR=" + secrets}, "docker-compose.yml", override)
	svc, err := p.GetService("callpass")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(svc.Command, "--dev") || len(svc.Command) == 0 || svc.Command[0] != "serve" {
		t.Fatalf("callpass command %q: want serve without --dev", svc.Command)
	}
	env, keysFile := serviceEnv(t, p, svc, func(v string) string { return steps.apply("docker-compose.yml", v) })
	cfg, _, err := config.Load("", env, false)
	if err != nil {
		t.Fatalf("the callpass environment of docker-compose.yml + %s, after the header's steps, is not a valid production configuration:\n%v", override, err)
	}
	if cfg.Sim.Enabled || !strings.HasPrefix(cfg.CallPass.BaseURL, "https://") {
		t.Errorf("sim %v, callpass.base_url %q: want the real CallPass", cfg.Sim.Enabled, cfg.CallPass.BaseURL)
	}
	if cfg.CallPass.Token != contents["callpass_token"] || cfg.Challenge.CodeKey != contents["challenge_code_key"] {
		t.Error("the token or the code key does not come from the secret files")
	}
	// Step 3 puts one new webhook secret in the service and in Kratos's hooks.
	kratosYML := steps.apply(kratosConfig, readRepoFile(t, kratosConfig))
	if n := strings.Count(kratosYML, "Bearer "+cfg.Webhook.Secret+"\n"); n != 4 {
		t.Errorf("after the header's steps %s has %d hooks sending the service's webhook secret, want 4", kratosConfig, n)
	}

	// The steps in the override's header create exactly these files.
	header := readRepoFile(t, override)
	if keysFile == "" || !strings.Contains(header, "keys generate --out "+keysFile+"\n") {
		t.Errorf("the header's `keys generate --out` does not name JWT_KEYS_FILE %q", keysFile)
	}
	def := loadProject(t, nil, "docker-compose.yml", override)
	for name, s := range def.Secrets {
		if !strings.Contains(header, "| sudo tee "+s.File+" ") {
			t.Errorf("secret %s: the header does not say how to create its default file %s", name, s.File)
		}
	}
	if !regexp.MustCompile(`(?m)^#\s+docker compose -f docker-compose\.yml -f ` + regexp.QuoteMeta(override) + ` up\b`).MatchString(header) {
		t.Errorf("the header does not show the `docker compose -f docker-compose.yml -f %s up` command", override)
	}
}

// TestCommittedPlaceholdersAreRefused: as committed, without the header's
// steps, the override's service still carries the published webhook secret,
// and serve (without --dev) refuses it under its key.
func TestCommittedPlaceholdersAreRefused(t *testing.T) {
	secrets, _ := secretFiles(t)
	p := loadProject(t, []string{"CALLPASS_SECRETS_DIR=" + secrets}, "docker-compose.yml", override)
	svc, err := p.GetService("callpass")
	if err != nil {
		t.Fatal(err)
	}
	env, _ := serviceEnv(t, p, svc, func(v string) string { return v })
	_, _, err = config.Load("", env, false)
	var verr *config.ValidationError
	if !errors.As(err, &verr) || !slices.Equal(verr.Keys(), []string{"webhook.secret"}) || !strings.Contains(err.Error(), "change-me") {
		t.Fatalf("the committed files: got %v, want webhook.secret refused as a published placeholder", err)
	}
}

// TestOverrideReplacesEveryPlaceholder: every published placeholder
// ("change-me", any case) in docker-compose.yml and in each file the merged
// project bind-mounts (Kratos's secrets too) is replaced by a step of the
// override's header, one that edits that file; after the steps, Kratos's
// secrets still have the lengths Kratos demands.
func TestOverrideReplacesEveryPlaceholder(t *testing.T) {
	steps := headerSteps(t)
	p := loadProject(t, []string{"CALLPASS_SECRETS_DIR=" + t.TempDir()}, "docker-compose.yml", override)
	root := repoRoot(t)
	files := []string{"docker-compose.yml"}
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s mounts %s from outside the repository", s.Name, v.Source)
				continue
			}
			if fi, err := os.Stat(v.Source); err == nil && !fi.IsDir() && !slices.Contains(files, filepath.ToSlash(rel)) {
				files = append(files, filepath.ToSlash(rel))
			}
		}
	}
	if !slices.Contains(files, kratosConfig) {
		t.Fatalf("the project mounts %v, not %s", files, kratosConfig)
	}
	found := 0
	for _, f := range files {
		text := readRepoFile(t, f)
		for _, lit := range placeholderRe.FindAllString(text, -1) {
			found++
			if !steps.replaces(f, lit) {
				t.Errorf("%s: %s is replaced by no step of the header of %s (a sed that edits %s)", f, lit, override, f)
			}
		}
		if left := placeholderRe.FindAllString(steps.apply(f, text), -1); len(left) > 0 {
			t.Errorf("%s after the header's steps still holds %v", f, left)
		}
	}
	if found == 0 {
		t.Fatal("no placeholder found: the test looks for none of them")
	}

	var kcfg struct {
		Secrets struct{ Cookie, Cipher []string }
	}
	if err := yaml.Unmarshal([]byte(steps.apply(kratosConfig, readRepoFile(t, kratosConfig))), &kcfg); err != nil {
		t.Fatal(err)
	}
	for _, c := range kcfg.Secrets.Cookie {
		if len(c) < 16 {
			t.Errorf("cookie secret of %d characters after the steps; Kratos wants at least 16", len(c))
		}
	}
	for _, c := range kcfg.Secrets.Cipher {
		if len(c) != 32 {
			t.Errorf("cipher secret of %d characters after the steps; Kratos wants exactly 32", len(c))
		}
	}
	if len(kcfg.Secrets.Cookie) == 0 || len(kcfg.Secrets.Cipher) == 0 {
		t.Errorf("%s lost its secrets: %+v", kratosConfig, kcfg.Secrets)
	}
}

// TestOverrideKeepsRedisState: with real calls the limits, bans and the
// daily budget cost money to lose; the override's Redis writes an
// append-only file on a named volume, so a restart keeps them.
func TestOverrideKeepsRedisState(t *testing.T) {
	p := loadProject(t, []string{"CALLPASS_SECRETS_DIR=" + t.TempDir()}, "docker-compose.yml", override)
	redis, err := p.GetService("redis")
	if err != nil {
		t.Fatal(err)
	}
	aof := ""
	for i, a := range redis.Command {
		if a == "--appendonly" && i+1 < len(redis.Command) {
			aof = redis.Command[i+1] // the last one wins, as in redis-server
		}
	}
	if aof != "yes" {
		t.Errorf("redis command %q: want --appendonly yes", redis.Command)
	}
	if !slices.ContainsFunc(redis.Volumes, func(v types.ServiceVolumeConfig) bool {
		_, declared := p.Volumes[v.Source]
		return v.Type == types.VolumeTypeVolume && v.Target == "/data" && declared
	}) {
		t.Errorf("redis volumes %+v: want a named volume at /data", redis.Volumes)
	}
}

const kratosConfig = "examples/compose/kratos.yml"

// placeholderRe finds a published placeholder: "change-me" in any case,
// with the rest of its word.
var placeholderRe = regexp.MustCompile(`(?i)change-me[A-Za-z0-9_-]*`)

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// secretFiles writes the files step 1 of the header creates into a new
// CALLPASS_SECRETS_DIR and returns it with their contents.
func secretFiles(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	contents := map[string]string{
		"callpass_token":     "0123456789abcdef0123456789abcdef",
		"challenge_code_key": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	}
	for name, v := range contents {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	return dir, contents
}

// serviceEnv is the service's environment as the container sees it, in
// os.Environ() form, with each value passed through edit (the header's
// substitutions), secret paths mapped to the host files, a JWT key file
// where JWT_KEYS_FILE points and a temporary data dir. It returns
// JWT_KEYS_FILE's value in the container.
func serviceEnv(t *testing.T, p *types.Project, svc types.ServiceConfig, edit func(string) string) ([]string, string) {
	t.Helper()
	// Secret targets (in the container) -> files on the host.
	mounted := map[string]string{}
	for _, s := range svc.Secrets {
		def, ok := p.Secrets[s.Source]
		if !ok {
			t.Errorf("service secret %s is not declared in the top-level secrets:", s.Source)
			continue
		}
		target := s.Target
		if target == "" {
			target = s.Source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		if def.File == "" {
			t.Errorf("secret %s has no file", s.Source)
		} else if _, err := os.Stat(def.File); err != nil {
			t.Errorf("secret %s: %v (want it in CALLPASS_SECRETS_DIR)", s.Source, err)
		}
		mounted[target] = def.File
	}
	// Volume targets of the service: a file the service reads outside
	// /run/secrets must be on one of them.
	var volumes []string
	for _, v := range svc.Volumes {
		volumes = append(volumes, v.Target)
	}

	var env []string
	keysFile := ""
	for k, v := range svc.Environment {
		if v == nil {
			continue
		}
		val := edit(*v)
		switch {
		case strings.HasSuffix(k, "_FILE") && strings.HasPrefix(val, "/run/secrets/"):
			host, ok := mounted[val]
			if !ok {
				t.Errorf("%s=%s: the service mounts no such secret", k, val)
				continue
			}
			val = host
		case k == "JWT_KEYS_FILE":
			keysFile = val
			if !slices.ContainsFunc(volumes, func(dir string) bool { return strings.HasPrefix(val, strings.TrimSuffix(dir, "/")+"/") }) {
				t.Errorf("JWT_KEYS_FILE=%s is on none of the service's volumes %v", val, volumes)
			}
			val = filepath.Join(t.TempDir(), "keys.json")
			k1, err := jwt.GenerateKey("ES256")
			if err != nil {
				t.Fatal(err)
			}
			if err := jwt.WriteKeyFile(val, k1); err != nil {
				t.Fatal(err)
			}
		case k == "DEV_DATA_DIR":
			val = t.TempDir()
		}
		env = append(env, k+"="+val)
	}
	return env, keysFile
}

// sedSub is one substitution of a `sed -i` step in the override's header:
// literal is replaced by value (the replacement evaluated: a generated
// secret) in files (paths relative to the repository root).
type sedSub struct {
	literal, value string
	files          []string
}

type sedSteps []sedSub

// headerSteps reads the `sed -i "s/old/new/" file...` commands of the
// override's header (a line ending in \ continues on the next) and
// evaluates their replacements as the shell would: $VAR set by a
// VAR=$(openssl rand -hex N) line, or $(openssl rand -hex N), each a fresh
// random value.
func headerSteps(t *testing.T) sedSteps {
	t.Helper()
	var lines []string
	cont := ""
	for _, l := range strings.Split(readRepoFile(t, override), "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		l = strings.TrimSpace(strings.TrimPrefix(l, "#"))
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cont+l)
		cont = ""
	}
	assign := regexp.MustCompile(`^(\w+)=\$\(openssl rand -hex (\d+)\)$`)
	sub := regexp.MustCompile(`"s/([^/"]+)/([^/"]+)/g?"`)
	quoted := regexp.MustCompile(`"[^"]*"`)
	vars := map[string]string{}
	var out sedSteps
	for _, l := range lines {
		if m := assign.FindStringSubmatch(l); m != nil {
			vars[m[1]] = randomHex(t, m[2])
			continue
		}
		if !strings.HasPrefix(l, "sed -i ") {
			continue
		}
		var files []string
		for _, f := range strings.Fields(quoted.ReplaceAllString(l, " "))[1:] {
			if !strings.HasPrefix(f, "-") {
				files = append(files, f)
			}
		}
		for _, m := range sub.FindAllStringSubmatch(l, -1) {
			out = append(out, sedSub{literal: m[1], value: evalReplacement(t, m[2], vars), files: files})
		}
	}
	if len(out) == 0 {
		t.Fatalf("the header of %s has no sed step", override)
	}
	return out
}

func evalReplacement(t *testing.T, expr string, vars map[string]string) string {
	t.Helper()
	if m := regexp.MustCompile(`^\$\(openssl rand -hex (\d+)\)$`).FindStringSubmatch(expr); m != nil {
		return randomHex(t, m[1])
	}
	if v, ok := vars[strings.TrimPrefix(expr, "$")]; ok && strings.HasPrefix(expr, "$") {
		return v
	}
	t.Fatalf("sed replacement %q: want $(openssl rand -hex N) or a variable the header sets from it", expr)
	return ""
}

func randomHex(t *testing.T, bytes string) string {
	t.Helper()
	n, err := strconv.Atoi(bytes)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// apply runs the steps that edit file over text.
func (s sedSteps) apply(file, text string) string {
	for _, sub := range s {
		if slices.Contains(sub.files, file) {
			text = strings.ReplaceAll(text, sub.literal, sub.value)
		}
	}
	return text
}

// replaces reports whether a step replaces literal in file.
func (s sedSteps) replaces(file, literal string) bool {
	return slices.ContainsFunc(s, func(sub sedSub) bool { return sub.literal == literal && slices.Contains(sub.files, file) })
}

// dockerfileRuntime returns the ENV values and EXPOSEd ports of the
// Dockerfile's last stage.
func dockerfileRuntime(t *testing.T) (map[string]string, []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	var exposed []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kw, rest, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch strings.ToUpper(kw) {
		case "FROM":
			env, exposed = map[string]string{}, nil
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("ENV %s: use the key=value form", rest)
				}
				env[k] = v
			}
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(rest)...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env, exposed
}

// TestDockerfileServeListensOnAllInterfaces: the service's default listen
// address is 127.0.0.1:4477, which neither a port mapping nor an
// orchestrator's probe reaches; the image sets SERVE_LISTEN to every
// interface on the exposed port.
func TestDockerfileServeListensOnAllInterfaces(t *testing.T) {
	env, exposed := dockerfileRuntime(t)
	listen, ok := env["SERVE_LISTEN"]
	if !ok {
		t.Fatal("the runtime stage does not set SERVE_LISTEN (the default 127.0.0.1:4477 is unreachable from outside the container)")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || (host != "" && host != "0.0.0.0" && host != "::") {
		t.Errorf("SERVE_LISTEN=%s: want every interface (0.0.0.0:<port>)", listen)
	}
	if !slices.Contains(exposed, port) {
		t.Errorf("SERVE_LISTEN port %s is not EXPOSEd (%v)", port, exposed)
	}
	var vars []string
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	vars = append(vars, "DEV_DATA_DIR="+t.TempDir())
	cfg, _, err := config.Load("", vars, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Serve.Listen != listen || cfg.Serve.BaseURL != "http://127.0.0.1:"+port {
		t.Errorf("serve --dev in the image: listen %s, base URL %s", cfg.Serve.Listen, cfg.Serve.BaseURL)
	}
}

// TestStopGraceCoversShutdown: `docker compose stop` (and `down`) sends
// SIGTERM, then SIGKILL after the service's stop_grace_period, 10 s when
// unset; the service lets in-flight requests finish for up to
// serve.shutdown_timeout (15 s by default), so the grace period must be
// longer, as docs/operations.md asks of every orchestrator.
func TestStopGraceCoversShutdown(t *testing.T) {
	const dockerDefault = 10 * time.Second
	for _, files := range [][]string{{"docker-compose.yml"}, {"docker-compose.yml", override}} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			p := loadProject(t, []string{"CALLPASS_SECRETS_DIR=" + t.TempDir()}, files...)
			svc, err := p.GetService("callpass")
			if err != nil {
				t.Fatal(err)
			}
			shutdown := config.Defaults().Serve.ShutdownTimeout
			if v, ok := svc.Environment["SERVE_SHUTDOWN_TIMEOUT"]; ok && v != nil {
				if shutdown, err = time.ParseDuration(*v); err != nil {
					t.Fatal(err)
				}
			}
			grace := dockerDefault
			if svc.StopGracePeriod != nil {
				grace = time.Duration(*svc.StopGracePeriod)
			}
			if grace <= shutdown {
				t.Errorf("callpass stop grace period %s (stop_grace_period; Docker's default is %s) is not above serve.shutdown_timeout %s: a stop kills requests still finishing",
					grace, dockerDefault, shutdown)
			}
		})
	}
}
