package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

const configUsage = `usage: callpass-kratos config validate [--config file] [--dev] [--print]

Loads the configuration exactly as "serve" would (file, then environment, then
--dev defaults; the JWT key file and claims mapper are loaded too) and lists
every problem, each naming its key. Exit status 1 if there is any problem.
With --dev, the development secrets are created in dev.data_dir if missing,
as "serve --dev" would.

--print writes the effective configuration (every key, after the environment
and --dev) to stdout as YAML, secrets replaced by "***"; the notices and the
verdict then go to stderr.`

func runConfig(_ context.Context, e env, args []string) error {
	if len(args) == 0 || (args[0] != "validate" && args[0] != "-h" && args[0] != "--help") {
		return &usageError{msg: "expected a subcommand: validate"}
	}
	if args[0] != "validate" {
		fmt.Fprintln(e.stdout, configUsage)
		return flag.ErrHelp
	}
	fs := newFlags("config validate", configUsage, e)
	path := fs.String("config", "", "configuration file (YAML)")
	dev := fs.Bool("dev", false, "apply --dev defaults before validating")
	printCfg := fs.Bool("print", false, "print the effective configuration as YAML, secrets redacted")
	if err := parseFlagsOnly(fs, args[1:]); err != nil {
		return err
	}
	cfg, notices, err := config.Load(*path, e.vars, *dev)
	if err != nil {
		return reportConfigError(e, err)
	}
	msgs := e.stdout
	if *printCfg {
		// stdout is the YAML alone, so it can be saved or piped.
		msgs = e.stderr
		b, err := yaml.Marshal(cfg.Redacted())
		if err != nil {
			return err
		}
		if _, err := e.stdout.Write(b); err != nil {
			return err
		}
	}
	for _, n := range notices {
		fmt.Fprintln(msgs, n)
	}
	fmt.Fprintln(msgs, "configuration is valid")
	return nil
}

// reportConfigError prints every validation problem on its own line and
// returns a one-line summary for the exit message.
func reportConfigError(e env, err error) error {
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		fmt.Fprintf(e.stderr, "configuration has %d problem(s):\n", len(verr.Problems))
		for _, p := range verr.Problems {
			fmt.Fprintf(e.stderr, "  - %s\n", p.String())
		}
		for _, n := range verr.Notices {
			fmt.Fprintf(e.stderr, "  note: %s\n", n)
		}
		return fmt.Errorf("invalid configuration (%d problem(s), listed above)", len(verr.Problems))
	}
	return err
}

const simUsage = `usage: callpass-kratos sim [flags]

Runs the CallPass simulator: the provider's API v1, v2 and v3 under /api/, a
control API under /sim/ and the virtual phone page at /sim/phone.
Never expose it publicly: the phone page shows numbers and codes.

Environment: SIM_TOKENS (comma-separated accepted tokens), SIM_SETTLE_DELAY,
SIM_DEFAULT_OUTCOME. Outcomes: ` + "answered, busy, no_answer, unreachable, rejected, destination_not_allowed, low_balance, server_error, html_error, slow, result_success"

func runSim(ctx context.Context, e env, args []string) error {
	fs := newFlags("sim", simUsage, e)
	listen := fs.String("listen", "127.0.0.1:4478", "listen address")
	tokens := fs.String("tokens", lookup(e.vars, "SIM_TOKENS"), "accepted bearer tokens, comma-separated (empty: generate one and print it)")
	settle := fs.Duration("settle-delay", durationEnv(e.vars, "SIM_SETTLE_DELAY", 2*time.Second), "how long async calls stay \"null\"")
	outcome := fs.String("default-outcome", envOr(e.vars, "SIM_DEFAULT_OUTCOME", "no_answer"), "outcome for numbers without a script")
	allow := fs.String("allow-ips", "", "source IP allow-list (IPs or CIDRs, comma-separated; empty: all)")
	var scripts multiFlag
	fs.Var(&scripts, "script", "per-number outcome, dn=outcome (repeatable), e.g. 79001234567=busy")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	cfg := sim.Config{SettleDelay: *settle, Scripts: map[string]sim.Outcome{}}
	def, err := sim.ParseOutcome(*outcome)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	cfg.DefaultOutcome = def
	for _, s := range scripts {
		dn, o, ok := strings.Cut(s, "=")
		if !ok {
			return &usageError{msg: fmt.Sprintf("--script %q: want dn=outcome", s)}
		}
		oc, err := sim.ParseOutcome(o)
		if err != nil {
			return &usageError{msg: err.Error()}
		}
		cfg.Scripts[strings.TrimSpace(dn)] = oc
	}
	if *allow != "" {
		cfg.AllowedIPs = splitList(*allow)
	}
	cfg.Tokens = splitList(*tokens)
	logger := newLogger(e, "info", "text")
	if len(cfg.Tokens) == 0 {
		tok, err := randomHexToken()
		if err != nil {
			return err
		}
		cfg.Tokens = []string{tok}
		fmt.Fprintf(e.stdout, "simulator token (use as CALLPASS_TOKEN): %s\n", tok)
	}
	fmt.Fprintf(e.stdout, "CallPass simulator on http://%s  (virtual phone: http://%s/sim/phone)\n", *listen, *listen)
	cfg.Logger = logger
	return sim.ListenAndServe(ctx, *listen, cfg, logger)
}

const callUsage = `usage: callpass-kratos call [--config file] [--dev] [--wait duration] <number>

Places one call through the configured provider and prints the call id, the
code digits, the final status and whether the phone rang. Exit status 1 with
the reason on any error.

  CALLPASS_BASE_URL=http://127.0.0.1:4478/ CALLPASS_TOKEN=<32 hex> \
  CALLPASS_API_VERSION=3 callpass-kratos call "+7 900 123-45-67"

With --dev and no callpass.base_url, the call goes to the built-in simulator
of a "callpass-kratos serve --dev" that is running (at serve.base_url,
http://127.0.0.1:4477/ by default), with the token that server stored in
dev.data_dir: run both from the same directory.`

func runCall(ctx context.Context, e env, args []string) error {
	fs := newFlags("call", callUsage, e)
	path := fs.String("config", "", "configuration file (YAML)")
	dev := fs.Bool("dev", false, "use --dev defaults for what is not configured")
	wait := fs.Duration("wait", 2*time.Minute, "how long to follow the call status")
	pos, err := parseFlagsAround(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{msg: "expected exactly one phone number"}
	}
	num, err := phone.Parse(pos[0])
	if err != nil {
		return err
	}
	cfg, _, err := config.LoadSections(*path, e.vars, *dev, "callpass.")
	if err != nil {
		return reportConfigError(e, err)
	}
	client, err := callpass.New(callpass.Config{
		BaseURL:    cfg.CallPass.BaseURL,
		Token:      cfg.CallPass.Token,
		APIVersion: cfg.CallPass.APIVersion,
		Timeout:    cfg.CallPass.Timeout,
		CodeLength: cfg.CallPass.CodeLength,
		Async:      cfg.CallPass.Async,
		SyncMargin: cfg.CallPass.RequestTimeoutMargin,
		Logger:     newLogger(e, "error", "text"),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "calling %s with CallPass API v%d …\n", num.Masked(), client.APIVersion())
	call, err := client.StartCall(ctx, num)
	if err != nil {
		if *dev && cfg.Sim.Enabled {
			return fmt.Errorf("%w (--dev calls the simulator of a running \"callpass-kratos serve --dev\" at %s, started from the same directory)",
				err, cfg.CallPass.BaseURL)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "call id: %s\ncode:    %s\nstatus:  %s\n", call.ID, call.Code, statusText(call.Status))
	if call.Status.Final() || client.APIVersion() == 1 {
		return finalVerdict(e, call.Status)
	}
	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-wctx.Done():
			return fmt.Errorf("call status still %q after %s", call.Status.Raw, *wait)
		case <-tick.C:
		}
		st, err := client.CallStatus(wctx, call.ID, num)
		if err != nil {
			if errors.Is(err, flashcall.ErrUnavailable) {
				continue // transient: keep following until --wait
			}
			return err
		}
		if st.Class != flashcall.ClassPending {
			fmt.Fprintf(e.stdout, "status:  %s\n", statusText(st))
			return finalVerdict(e, st)
		}
	}
}

func statusText(s flashcall.Status) string {
	raw := s.Raw
	if raw == "" {
		raw = "null"
	}
	return raw + " (" + s.Class.String() + ")"
}

func finalVerdict(e env, s flashcall.Status) error {
	switch s.Class {
	case flashcall.ClassRang:
		fmt.Fprintln(e.stdout, "phone rang: yes, the code was delivered")
	case flashcall.ClassNotDelivered:
		fmt.Fprintln(e.stdout, "phone rang: no, the call did not reach the phone")
	default:
		fmt.Fprintln(e.stdout, "phone rang: unknown")
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func lookup(vars []string, key string) string {
	for i := len(vars) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(vars[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func envOr(vars []string, key, def string) string {
	if v := lookup(vars, key); v != "" {
		return v
	}
	return def
}

func durationEnv(vars []string, key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(lookup(vars, key)); err == nil {
		return d
	}
	return def
}

func newLogger(e env, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// randomHexToken makes a token in the provider's format (32 lower-case hex).
func randomHexToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
