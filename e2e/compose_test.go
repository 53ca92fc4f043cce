package e2e_test

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
)

// Docker does not run here, so docker-compose.yml is checked by loading it
// with the compose-spec library (the loader `docker compose` itself uses)
// and comparing its wiring with the files it names.

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithName("callpass-kratos"), cli.WithEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func env(t *testing.T, s types.ServiceConfig, key string) string {
	t.Helper()
	v, ok := s.Environment[key]
	if !ok || v == nil {
		t.Errorf("service %s: environment lacks %s", s.Name, key)
		return ""
	}
	return *v
}

func TestComposeServicesAndWiring(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	want := []string{"app", "callpass", "kratos", "kratos-migrate", "redis", "ui"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services %v, want %v", sorted(got), want)
	}
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	kratos, migrate, callpass, ui, app := svc("kratos"), svc("kratos-migrate"), svc("callpass"), svc("ui"), svc("app")

	// Kratos: the official v1.3.1 image, migrated first, same DSN and volume.
	for _, s := range []types.ServiceConfig{kratos, migrate} {
		if s.Image != "oryd/kratos:v1.3.1" {
			t.Errorf("%s image %q, want oryd/kratos:v1.3.1", s.Name, s.Image)
		}
	}
	if got := strings.Join(migrate.Command, " "); got != "migrate sql -e --yes" {
		t.Errorf("kratos-migrate command %q", got)
	}
	if a, b := env(t, kratos, "DSN"), env(t, migrate, "DSN"); a != b || !strings.HasPrefix(a, "sqlite:///var/lib/sqlite/") {
		t.Errorf("DSN kratos %q, migrate %q: want the same SQLite file on the volume", a, b)
	}
	if !hasVolume(kratos, "kratos-sqlite", "/var/lib/sqlite") || !hasVolume(migrate, "kratos-sqlite", "/var/lib/sqlite") {
		t.Error("kratos and kratos-migrate must share the kratos-sqlite volume at /var/lib/sqlite")
	}
	if !strings.Contains(strings.Join(kratos.Command, " "), "serve -c /etc/config/kratos/kratos.yml") {
		t.Errorf("kratos command %q", kratos.Command)
	}

	deps := map[string]map[string]string{
		"kratos":   {"kratos-migrate": types.ServiceConditionCompletedSuccessfully},
		"callpass": {"redis": types.ServiceConditionHealthy},
		"ui":       {"kratos": types.ServiceConditionStarted, "callpass": types.ServiceConditionStarted},
		"app":      {"callpass": types.ServiceConditionStarted},
	}
	for name, want := range deps {
		s := svc(name)
		for dep, cond := range want {
			d, ok := s.DependsOn[dep]
			if !ok || d.Condition != cond {
				t.Errorf("%s depends_on %s: %+v, want condition %s", name, dep, d, cond)
			}
		}
	}
	if svc("redis").HealthCheck == nil {
		t.Error("redis needs a healthcheck (callpass waits for service_healthy)")
	}

	// Published ports, loopback only, as the local stack's.
	ports := map[string][]uint32{"kratos": {4433, 4434}, "callpass": {4477}, "ui": {4455}, "app": {4480}}
	for name, want := range ports {
		var got []uint32
		for _, pc := range svc(name).Ports {
			if pc.HostIP != "127.0.0.1" || pc.Published != itoa(pc.Target) {
				t.Errorf("%s publishes %+v, want 127.0.0.1:%d:%d", name, pc, pc.Target, pc.Target)
			}
			got = append(got, pc.Target)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s ports %v, want %v", name, got, want)
		}
	}

	// Builds: every build names an existing context and Dockerfile.
	for _, name := range []string{"callpass", "ui", "app"} {
		s := svc(name)
		if s.Build == nil {
			t.Errorf("%s has no build", name)
			continue
		}
		if s.Image != "callpass-kratos:dev" {
			t.Errorf("%s image %q, want callpass-kratos:dev", name, s.Image)
		}
		df := s.Build.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(s.Build.Context, df)
		}
		if _, err := os.Stat(df); err != nil {
			t.Errorf("%s: Dockerfile %s: %v", name, df, err)
		}
	}
	if got := ui.Entrypoint; !slices.Equal(got, []string{"/usr/local/bin/ui"}) {
		t.Errorf("ui entrypoint %v", got)
	}
	if got := app.Entrypoint; !slices.Equal(got, []string{"/usr/local/bin/app"}) {
		t.Errorf("app entrypoint %v", got)
	}

	// Every bind-mounted file exists.
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s: %v", s.Name, v.Source, err)
			}
			if !strings.HasPrefix(v.Source, root) {
				t.Errorf("%s mounts %s from outside the repository", s.Name, v.Source)
			}
		}
	}

	// The service: Redis store, Kratos by service name, browser origins.
	if env(t, callpass, "STORE_TYPE") != "redis" {
		t.Error("callpass STORE_TYPE must be redis")
	}
	if u := mustURL(t, env(t, callpass, "STORE_REDIS_URL")); u.Hostname() != "redis" {
		t.Errorf("STORE_REDIS_URL host %q, want redis", u.Hostname())
	}
	if got := env(t, callpass, "KRATOS_PUBLIC_URL"); got != "http://kratos:4433" {
		t.Errorf("callpass KRATOS_PUBLIC_URL %q", got)
	}
	if got := env(t, callpass, "KRATOS_ADMIN_URL"); got != "http://kratos:4434" {
		t.Errorf("callpass KRATOS_ADMIN_URL %q", got)
	}
	origins := strings.Split(env(t, callpass, "SERVE_ALLOWED_ORIGINS"), ",")
	if !slices.Contains(origins, env(t, ui, "UI_URL")) {
		t.Errorf("SERVE_ALLOWED_ORIGINS %v lacks the UI origin %s", origins, env(t, ui, "UI_URL"))
	}
	// The service's environment is a valid configuration.
	var cenv []string
	for k, v := range callpass.Environment {
		if v != nil && k != "DEV_DATA_DIR" {
			cenv = append(cenv, k+"="+*v)
		}
	}
	cenv = append(cenv, "DEV_DATA_DIR="+t.TempDir())
	dev := slices.Contains(callpass.Command, "--dev")
	if _, _, err := config.Load("", cenv, dev); err != nil {
		t.Errorf("callpass environment does not validate (dev=%v): %v", dev, err)
	}

	// The UI and the app find Kratos, the service and each other.
	if got := env(t, ui, "KRATOS_PUBLIC_URL"); got != "http://kratos:4433" {
		t.Errorf("ui KRATOS_PUBLIC_URL %q", got)
	}
	if got := env(t, ui, "KRATOS_BROWSER_URL"); got != "http://127.0.0.1:4433" {
		t.Errorf("ui KRATOS_BROWSER_URL %q", got)
	}
	// The /2fa page's sign-in link is followed by the browser: Kratos as the
	// UI's pages send browsers to it, never a compose service name (only
	// the containers resolve those).
	browser := env(t, callpass, "KRATOS_BROWSER_URL")
	if browser != env(t, ui, "KRATOS_BROWSER_URL") {
		t.Errorf("callpass KRATOS_BROWSER_URL %q, the UI's %q: want the same browser-facing Kratos", browser, env(t, ui, "KRATOS_BROWSER_URL"))
	}
	if h := mustURL(t, browser).Hostname(); slices.Contains(p.ServiceNames(), h) {
		t.Errorf("callpass KRATOS_BROWSER_URL %q names the compose service %s, which browsers cannot resolve", browser, h)
	}
	if got := env(t, ui, "CALLPASS_URL"); got != "http://callpass:4477" {
		t.Errorf("ui CALLPASS_URL %q", got)
	}
	if got := env(t, ui, "APP_URL"); got != "http://127.0.0.1:4480" {
		t.Errorf("ui APP_URL %q", got)
	}
	if got := env(t, app, "CALLPASS_APP_JWKS"); got != "http://callpass:4477/.well-known/jwks.json" {
		t.Errorf("app JWKS %q", got)
	}
	issuer := env(t, callpass, "SERVE_BASE_URL")
	if v, ok := callpass.Environment["JWT_ISSUER"]; ok && v != nil {
		issuer = *v
	}
	if got := env(t, app, "CALLPASS_APP_ISSUER"); got != issuer {
		t.Errorf("app issuer %q, the service issues as %q", got, issuer)
	}
	if got := env(t, app, "CALLPASS_APP_AUDIENCE"); got != env(t, callpass, "JWT_AUDIENCE") {
		t.Errorf("app audience %q, service JWT_AUDIENCE %q", got, env(t, callpass, "JWT_AUDIENCE"))
	}

	checkComposeKratosConfig(t, p, kratos, callpass)
}

// checkComposeKratosConfig reads the Kratos config compose mounts and checks
// its hooks point at the callpass service with its secret, and that every
// file:// it names is mounted into the container.
func checkComposeKratosConfig(t *testing.T, p *types.Project, kratos, callpass types.ServiceConfig) {
	t.Helper()
	mounts := map[string]string{} // container path -> host path
	for _, v := range kratos.Volumes {
		if v.Type == types.VolumeTypeBind {
			mounts[v.Target] = v.Source
		}
	}
	cfgPath, ok := mounts["/etc/config/kratos/kratos.yml"]
	if !ok {
		t.Fatal("kratos does not mount /etc/config/kratos/kratos.yml")
	}
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", cfgPath, err)
	}
	secret := env(t, callpass, "WEBHOOK_SECRET")
	if len(secret) < 32 {
		t.Errorf("WEBHOOK_SECRET has %d characters; the service needs at least 32", len(secret))
	}
	listen := env(t, callpass, "SERVE_LISTEN")
	_, port, _ := strings.Cut(listen, ":")
	hooks := map[string]bool{}
	var files []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["hook"] == "web_hook" {
				c, _ := x["config"].(map[string]any)
				u := mustURL(t, c["url"].(string))
				if u.Host != callpass.Name+":"+port {
					t.Errorf("hook url %s: want host %s:%s (the callpass service)", u, callpass.Name, port)
				}
				hooks[u.Path] = true
				auth, _ := c["auth"].(map[string]any)
				ac, _ := auth["config"].(map[string]any)
				if ac["name"] != "Authorization" || ac["value"] != "Bearer "+secret {
					t.Errorf("hook %s: auth %v does not carry the service's WEBHOOK_SECRET", u.Path, ac)
				}
				if u.Path == "/hooks/kratos/registered" {
					// Runs after the save: Kratos runs a web_hook there only
					// without can_interrupt and response.parse.
					if c["can_interrupt"] == true || c["response"] != nil {
						t.Errorf("hook %s: must have neither can_interrupt nor response (it runs after the save)", u.Path)
					}
				} else if c["can_interrupt"] != true {
					t.Errorf("hook %s: can_interrupt must be true", u.Path)
				}
				if u.Path != "/hooks/kratos/login" && u.Path != "/hooks/kratos/registered" {
					if r, _ := c["response"].(map[string]any); r["parse"] != true {
						t.Errorf("hook %s: response.parse must be true to store metadata_public", u.Path)
					}
				}
			}
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "body" || k == "url") && strings.HasPrefix(s, "file://") {
					files = append(files, strings.TrimPrefix(s, "file://"))
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(cfg)
	for _, path := range []string{"/hooks/kratos/login", "/hooks/kratos/registration", "/hooks/kratos/registered", "/hooks/kratos/settings"} {
		if !hooks[path] {
			t.Errorf("compose kratos.yml has no web_hook to %s", path)
		}
	}
	if len(files) < 4 {
		t.Errorf("compose kratos.yml names %d files (want 3 jsonnet + the identity schema): %v", len(files), files)
	}
	for _, f := range files {
		host, ok := mounts[f]
		if !ok {
			t.Errorf("compose kratos.yml reads %s, which kratos does not mount", f)
			continue
		}
		if _, err := os.Stat(host); err != nil {
			t.Errorf("%s is mounted from %s: %v", f, host, err)
		}
	}
	// The UI's URLs are Kratos's return URLs.
	ss, _ := cfg["selfservice"].(map[string]any)
	ui, _ := p.GetService("ui")
	if ss["default_browser_return_url"] != env(t, ui, "UI_URL")+"/" {
		t.Errorf("default_browser_return_url %v, UI_URL %s", ss["default_browser_return_url"], env(t, ui, "UI_URL"))
	}
	// The /2fa page's sign-in link asks Kratos to return to the page; Kratos
	// refuses a return_to its allowed_return_urls does not admit.
	allowed, _ := ss["allowed_return_urls"].([]any)
	for _, page := range []string{"/2fa", "/2fa?lang=ru"} {
		rt := strings.TrimRight(env(t, callpass, "SERVE_BASE_URL"), "/") + page
		if !kratosAdmits(t, allowed, rt) {
			t.Errorf("selfservice.allowed_return_urls %v does not admit %s (the /2fa page's return_to)", allowed, rt)
		}
	}
}

// kratosAdmits applies Kratos v1.3.1's return_to check (x.SecureRedirectTo):
// an allowed URL admits a return_to with the same scheme, the same host
// (or a subdomain of a "*." host) and a path under its path.
func kratosAdmits(t *testing.T, allowed []any, returnTo string) bool {
	t.Helper()
	rt := mustURL(t, returnTo)
	orSlash := func(p string) string {
		if p == "" {
			return "/"
		}
		return p
	}
	for _, a := range allowed {
		s, _ := a.(string)
		u := mustURL(t, s)
		host := strings.EqualFold(u.Host, rt.Host)
		if strings.HasPrefix(u.Host, "*") {
			host = strings.HasSuffix(strings.ToLower(rt.Host), strings.ToLower(u.Host[1:]))
		}
		if strings.EqualFold(u.Scheme, rt.Scheme) && host && strings.HasPrefix(orSlash(rt.Path), orSlash(u.Path)) {
			return true
		}
	}
	return false
}

// TestDockerfileBuildsExistingPackages parses the Dockerfile simply: the
// build stage compiles packages that exist and are commands, the runtime
// stage runs as non-root and exposes the three ports.
func TestDockerfileBuildsExistingPackages(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		lines  []string
		cont   strings.Builder
		stages []string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cont.WriteString(l)
		lines = append(lines, cont.String())
		cont.Reset()
	}
	var pkgs, users, exposed []string
	entry := ""
	buildCmd := regexp.MustCompile(`go build [^&]*?-o (\S+) (\./\S+)`)
	for _, l := range lines {
		kw, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(kw) {
		case "FROM":
			stages = append(stages, rest)
		case "RUN":
			for _, m := range buildCmd.FindAllStringSubmatch(rest, -1) {
				pkgs = append(pkgs, m[2])
			}
		case "USER":
			if len(stages) > 1 {
				users = append(users, rest)
			}
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(rest)...)
		case "ENTRYPOINT":
			entry = rest
		}
	}
	if len(stages) != 2 || !strings.HasPrefix(stages[0], "golang:1.26 ") || !strings.HasSuffix(stages[0], " AS build") {
		t.Errorf("stages %q: want golang:1.26 AS build, then the runtime", stages)
	}
	if len(stages) == 2 && !strings.Contains(stages[1], "distroless/static") && !strings.Contains(stages[1], "alpine") {
		t.Errorf("runtime stage %q: want distroless/static or alpine", stages[1])
	}
	wantPkgs := []string{"./cmd/callpass-kratos", "./examples/ui", "./examples/app"}
	if !slices.Equal(pkgs, wantPkgs) {
		t.Errorf("the build stage builds %v, want %v", pkgs, wantPkgs)
	}
	for _, pkg := range pkgs {
		if !isMainPackage(t, filepath.Join(root, pkg)) {
			t.Errorf("%s is not a package main in this repository", pkg)
		}
	}
	if len(users) != 1 || users[0] == "root" || strings.HasPrefix(users[0], "0") {
		t.Errorf("runtime USER %v: want one non-root user", users)
	}
	if !slices.Equal(sorted(exposed), []string{"4455", "4477", "4480"}) {
		t.Errorf("EXPOSE %v", exposed)
	}
	if entry != `["/usr/local/bin/callpass-kratos"]` {
		t.Errorf("ENTRYPOINT %s", entry)
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "CGO_ENABLED=0") }) {
		t.Error("the build must set CGO_ENABLED=0 (static binaries for distroless/static)")
	}
}

func isMainPackage(t *testing.T, dir string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil && regexp.MustCompile(`(?m)^package main$`).Match(b) {
			return true
		}
	}
	return false
}

func hasVolume(s types.ServiceConfig, source, target string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source == source && v.Target == target {
			return true
		}
	}
	return false
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("url %q: %v", s, err)
	}
	return u
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
