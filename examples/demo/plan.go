package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// The demo's fixed addresses: examples/kratos/kratos.yml names them, so they
// are not flags.
const (
	kratosPublic = "http://127.0.0.1:4433"
	kratosAdmin  = "http://127.0.0.1:4434"
	uiURL        = "http://127.0.0.1:4455"
	serviceURL   = "http://127.0.0.1:4477"
	appURL       = "http://127.0.0.1:4480"
)

// part is one process of the stack.
type part struct {
	Name   string
	Bin    string
	Args   []string
	Dir    string
	Env    []string
	Health string // GET must answer 200 before the next part starts
	Addr   string // host:port that must be free before starting
}

// plan is everything the supervisor starts, in order.
type plan struct {
	Root    string
	DataDir string // .callpass-dev (the service's dev.data_dir)
	BinDir  string
	LogDir  string
	Parts   []part
	URLs    [][2]string // label, URL: printed once everything is up
}

// hookConfig is what the demo reads from kratos.yml.
type hookConfig struct {
	URLs   []string
	Secret string
}

// readHooks finds every web_hook of kratos.yml and the one bearer secret
// they share, so the service is started with exactly that secret.
func readHooks(path string) (hookConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return hookConfig{}, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return hookConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	var hc hookConfig
	secrets := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["hook"] == "web_hook" {
				c, _ := x["config"].(map[string]any)
				u, _ := c["url"].(string)
				hc.URLs = append(hc.URLs, u)
				auth, _ := c["auth"].(map[string]any)
				ac, _ := auth["config"].(map[string]any)
				val, _ := ac["value"].(string)
				secrets[strings.TrimPrefix(val, "Bearer ")] = true
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if len(hc.URLs) == 0 {
		return hookConfig{}, fmt.Errorf("%s: no web_hook found", path)
	}
	if len(secrets) != 1 {
		return hookConfig{}, fmt.Errorf("%s: the web_hooks must share one bearer secret, found %d", path, len(secrets))
	}
	for s := range secrets {
		hc.Secret = s
	}
	if len(hc.Secret) < 32 {
		return hookConfig{}, fmt.Errorf("%s: the web_hook bearer secret must have at least 32 characters (callpass-kratos refuses shorter ones)", path)
	}
	for _, u := range hc.URLs {
		if !strings.HasPrefix(u, serviceURL+"/") {
			return hookConfig{}, fmt.Errorf("%s: web_hook url %q is not on %s", path, u, serviceURL)
		}
	}
	return hc, nil
}

func hostPort(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

// newPlan describes the stack for the repository at root.
func newPlan(root string) (*plan, error) {
	kdir := filepath.Join(root, "examples", "kratos")
	hooks, err := readHooks(filepath.Join(kdir, "kratos.yml"))
	if err != nil {
		return nil, err
	}
	data := filepath.Join(root, ".callpass-dev")
	p := &plan{
		Root: root, DataDir: data,
		BinDir: filepath.Join(data, "demo", "bin"),
		LogDir: filepath.Join(data, "demo", "logs"),
	}
	bin := func(name string) string { return filepath.Join(p.BinDir, name) }
	p.Parts = []part{
		{
			Name: "callpass-kratos", Bin: bin("callpass-kratos"), Args: []string{"serve", "--dev"}, Dir: root,
			// The host environment is passed on (CALLPASS_BASE_URL and
			// CALLPASS_TOKEN point the demo at the real CallPass); these win.
			Env: append(os.Environ(),
				"SERVE_LISTEN="+hostPort(serviceURL),
				"SERVE_BASE_URL="+serviceURL,
				"SERVE_ALLOWED_ORIGINS="+strings.Join([]string{uiURL, serviceURL, kratosPublic}, ","),
				"KRATOS_PUBLIC_URL="+kratosPublic,
				"KRATOS_ADMIN_URL="+kratosAdmin,
				"WEBHOOK_SECRET="+hooks.Secret,
				"DEV_DATA_DIR="+data,
			),
			Health: serviceURL + "/health/alive",
			Addr:   hostPort(serviceURL),
		},
		{
			// Kratos runs from examples/kratos: its relative file:// paths
			// resolve against the working directory.
			Name: "kratos", Args: []string{"serve", "-c", "kratos.yml", "--dev", "--watch-courier=false"}, Dir: kdir,
			Env:    minimalEnv("SQA_OPT_OUT=true"),
			Health: kratosAdmin + "/health/ready",
			Addr:   hostPort(kratosPublic),
		},
		{
			Name: "ui", Bin: bin("ui"), Dir: root,
			Args: []string{"--listen", hostPort(uiURL), "--kratos-public", kratosPublic, "--kratos-browser-url", kratosPublic,
				"--app-url", appURL, "--callpass-url", serviceURL, "--ui-url", uiURL},
			Env:    minimalEnv(),
			Health: uiURL + "/healthz",
			Addr:   hostPort(uiURL),
		},
		{
			Name: "app", Bin: bin("app"), Dir: root,
			Args: []string{"--listen", hostPort(appURL), "--jwks", serviceURL + "/.well-known/jwks.json",
				"--issuer", serviceURL, "--audience", "callpass-kratos"},
			Env:    minimalEnv(),
			Health: appURL + "/healthz",
			Addr:   hostPort(appURL),
		},
	}
	p.URLs = [][2]string{
		{"Register", uiURL + "/registration"},
		{"Sign in", uiURL + "/login"},
		{"Virtual phone (incoming calls)", serviceURL + "/sim/phone"},
		{"Example app (your JWT claims)", appURL + "/"},
		{"Step-up page", serviceURL + "/2fa"},
		{"Kratos public API", kratosPublic},
	}
	return p, nil
}

// minimalEnv keeps the host's configuration variables (DSN, SERVE_*, …) away
// from Kratos and the examples, which read their configuration from the
// environment too.
func minimalEnv(extra ...string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}
