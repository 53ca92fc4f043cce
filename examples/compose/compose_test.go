// Package compose_test checks the container files admins run as documented:
// examples/compose/real-callpass.yml (the switch of docker-compose.yml from
// the simulator to the real CallPass) and the Dockerfile's listen address.
// Docker does not run here: compose files are loaded with the compose-spec
// library `docker compose` itself uses.
package compose_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

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
// (with the secret files and the JWT key file created as its header says) is
// a valid configuration: nothing --dev used to fill is missing.
func TestRealCallPassOverrideIsAValidProductionConfig(t *testing.T) {
	secrets := t.TempDir()
	contents := map[string]string{
		"callpass_token":     "0123456789abcdef0123456789abcdef",
		"challenge_code_key": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	}
	for name, v := range contents {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	p := loadProject(t, []string{"CALLPASS_SECRETS_DIR=" + secrets}, "docker-compose.yml", override)
	svc, err := p.GetService("callpass")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(svc.Command, "--dev") || len(svc.Command) == 0 || svc.Command[0] != "serve" {
		t.Fatalf("callpass command %q: want serve without --dev", svc.Command)
	}

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
		val := *v
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
	cfg, _, err := config.Load("", env, false)
	if err != nil {
		t.Fatalf("the callpass environment of docker-compose.yml + %s is not a valid production configuration:\n%v", override, err)
	}
	if cfg.Sim.Enabled || !strings.HasPrefix(cfg.CallPass.BaseURL, "https://") {
		t.Errorf("sim %v, callpass.base_url %q: want the real CallPass", cfg.Sim.Enabled, cfg.CallPass.BaseURL)
	}
	if cfg.CallPass.Token != contents["callpass_token"] || cfg.Challenge.CodeKey != contents["challenge_code_key"] {
		t.Error("the token or the code key does not come from the secret files")
	}

	// The steps in the override's header create exactly these files.
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), override))
	if err != nil {
		t.Fatal(err)
	}
	header := string(raw)
	if keysFile == "" || !strings.Contains(header, "keys generate --out "+keysFile+"\n") {
		t.Errorf("the header's `keys generate --out` does not name JWT_KEYS_FILE %q", keysFile)
	}
	def := loadProject(t, nil, "docker-compose.yml", override)
	for name, s := range def.Secrets {
		if !strings.Contains(header, "| sudo tee "+s.File+" ") {
			t.Errorf("secret %s: the header does not say how to create its default file %s", name, s.File)
		}
	}
	if !regexp.MustCompile(`(?m)^#\s+docker compose -f docker-compose\.yml -f ` + regexp.QuoteMeta(override) + ` up\b`).Match(raw) {
		t.Errorf("the header does not show the `docker compose -f docker-compose.yml -f %s up` command", override)
	}
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
